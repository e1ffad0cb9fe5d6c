//! Commands that talk to the catalog or a running server from the command
//! line: `tudi keys ...` (directly on the data folder's catalog) and
//! `tudi publish FILE` (an HTTP upload with a progress bar).

use std::path::Path;

use anyhow::Context;

use crate::auth::{Role, new_key};
use crate::cli::{KeysCommand, PublishArgs};
use crate::store::open_catalog;

/// `tudi keys ...`
pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            role,
            label,
            data_dir,
            store,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role `{role}` (viewer, approver, publisher, admin)")
            })?;
            let catalog = open_catalog(&data_dir, store.as_deref())?;
            let key = new_key();
            let row = catalog.create_key(&key.id, &key.hash, role, label.as_deref())?;
            eprintln!(
                "created key {} with role {} (shown once; store it now)",
                row.id, row.role
            );
            println!("{}", key.secret);
        }
        KeysCommand::List { data_dir, store } => {
            let catalog = open_catalog(&data_dir, store.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&catalog.keys()?)?);
        }
        KeysCommand::Revoke {
            id,
            data_dir,
            store,
        } => {
            let catalog = open_catalog(&data_dir, store.as_deref())?;
            if !catalog.revoke_key(&id)? {
                anyhow::bail!("no live key `{id}`");
            }
            eprintln!("revoked {id} (servers stop accepting it within seconds)");
        }
    }
    Ok(())
}

/// `tudi publish FILE --id ID ...`
pub fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(upload(args))
}

async fn upload(args: PublishArgs) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;

    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("{}", args.file.display()))?
        .len();
    let create = args.title.is_some() || args.category.is_some();
    let base = args.server.trim_end_matches('/');
    let mut query: Vec<(&str, String)> = Vec::new();
    let url = if create {
        let (Some(title), Some(category)) = (&args.title, &args.category) else {
            anyhow::bail!("a new layer needs both --title and --category");
        };
        query.push(("id", args.id.clone()));
        query.push(("title", title.clone()));
        query.push(("category", category.clone()));
        if let Some(a) = &args.access {
            query.push(("access", a.clone()));
        }
        format!("{base}/api/layers")
    } else {
        format!("{base}/api/layers/{}/versions", args.id)
    };
    if let Some(c) = &args.crs {
        query.push(("crs", c.clone()));
    }
    if let Some(n) = &args.note {
        query.push(("note", n.clone()));
    }
    if args.dry_run {
        query.push(("dry_run", "true".into()));
    }
    if let Some(ext) = Path::new(&args.file).extension().and_then(|e| e.to_str()) {
        query.push(("format", ext.to_string()));
    }

    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("uploading");
    let file = tokio::fs::File::open(&args.file).await?;
    let pb = bar.clone();
    let stream = futures_util::stream::unfold(file, move |mut f| {
        let pb = pb.clone();
        async move {
            let mut buf = vec![0u8; 256 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    pb.inc(n as u64);
                    Some((Ok::<_, std::io::Error>(buf), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        }
    })
    .boxed();
    let client = reqwest::Client::new();
    let resp = client
        .post(&url)
        .query(&query)
        .bearer_auth(&args.key)
        .header(reqwest::header::CONTENT_LENGTH, size)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let resp = resp.await.with_context(|| format!("cannot reach {base}"))?;
    bar.finish_with_message("uploaded; validating and publishing");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    println!("{}", serde_json::to_string_pretty(&body)?);
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            body["message"]
                .as_str()
                .unwrap_or("the server refused the upload")
        );
    }
    if let Some(v) = body["version"]["version"].as_u64() {
        eprintln!("published `{}` version {v}", args.id);
    } else {
        eprintln!("dry run: nothing published");
    }
    Ok(())
}
