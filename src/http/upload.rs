//! Receiving an upload: a raw body or a `multipart/form-data` form with one
//! file part, streamed to a temporary file in the data folder with the size
//! cap enforced before anything is buffered (`Content-Length` first, then
//! while streaming). Small text fields of a form come back as a map.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use crate::ingest::UploadFormat;

/// Most bytes of one text field of a form.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most text fields in a form.
const MAX_FIELDS: usize = 64;

/// A received upload; its temporary file is removed when this is dropped.
pub struct Received {
    pub path: PathBuf,
    pub bytes: u64,
    /// Format declared by the client (query, form field, file name or
    /// content type), if any.
    pub declared: Option<UploadFormat>,
    /// Text fields of a form (empty for a raw body).
    pub fields: BTreeMap<String, String>,
}

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn too_large(cap: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the upload is larger than the limit of {} MiB",
        cap >> 20
    ))
}

/// Receives the request body into `tmp_dir`.
pub async fn receive(req: Request, tmp_dir: &Path, cap: u64) -> Result<Received, ApiError> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > cap
    {
        return Err(too_large(cap));
    }
    tokio::fs::create_dir_all(tmp_dir)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", tmp_dir.display())))?;
    let path = tmp_dir.join(format!("upload-{:016x}", rand::random::<u64>()));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut received = Received {
        path,
        bytes: 0,
        declared: None,
        fields: BTreeMap::new(),
    };
    if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::BadRequest(format!("multipart form: {e}")))?;
        let mut got_file = false;
        while let Some(mut field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::BadRequest(format!("multipart form: {e}")))?
        {
            let name = field.name().unwrap_or("").to_string();
            if field.file_name().is_some() || name == "file" {
                if got_file {
                    return Err(ApiError::BadRequest(
                        "the form has more than one file part; send one file per request".into(),
                    ));
                }
                got_file = true;
                if let Some(ext) = field
                    .file_name()
                    .and_then(|f| Path::new(f).extension())
                    .and_then(|e| e.to_str())
                {
                    received.declared = UploadFormat::parse(ext);
                }
                let mut file = tokio::fs::File::create(&received.path)
                    .await
                    .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("multipart form: {e}")))?
                {
                    received.bytes += chunk.len() as u64;
                    if received.bytes > cap {
                        return Err(too_large(cap));
                    }
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
                }
                file.flush()
                    .await
                    .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
            } else {
                if received.fields.len() >= MAX_FIELDS {
                    return Err(ApiError::BadRequest("too many form fields".into()));
                }
                let mut text = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("multipart form: {e}")))?
                {
                    if text.len() + chunk.len() > MAX_FIELD_BYTES {
                        return Err(ApiError::TooLarge(format!(
                            "form field `{}` is longer than {MAX_FIELD_BYTES} bytes",
                            name.chars().take(40).collect::<String>()
                        )));
                    }
                    text.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(text).map_err(|_| {
                    ApiError::BadRequest(format!(
                        "form field `{}` is not UTF-8",
                        name.chars().take(40).collect::<String>()
                    ))
                })?;
                received.fields.insert(name, text);
            }
        }
        if !got_file {
            return Err(ApiError::BadRequest(
                "the form has no file part (name it `file`)".into(),
            ));
        }
    } else {
        if !content_type.is_empty() {
            received.declared = UploadFormat::parse(&content_type);
        }
        let mut file = tokio::fs::File::create(&received.path)
            .await
            .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
        let mut stream = req.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            received.bytes += chunk.len() as u64;
            if received.bytes > cap {
                return Err(too_large(cap));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| ApiError::Internal(format!("upload file: {e}")))?;
    }
    if received.bytes == 0 {
        return Err(ApiError::BadRequest("the upload is empty".into()));
    }
    Ok(received)
}
