mod binary;
mod http_errors;
mod reviews;
mod styles;
mod support;
mod tiles_basic;
mod tiles_fixtures;
