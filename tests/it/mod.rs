mod binary;
mod http_errors;
mod support;
mod tiles_basic;
mod tiles_fixtures;
mod reviews;
