mod access;
mod binary;
mod export;
mod http_errors;
mod limits;
#[cfg(feature = "gdal")]
mod ogr;
mod pg_support;
mod postgres;
mod publish;
mod publish_binary;
mod reviews;
mod security;
mod styles;
mod support;
mod tiles_basic;
mod tiles_fixtures;
mod web;
