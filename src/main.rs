//! The `tudi` binary: parses the command line and hands over to the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tudi::cli::{AuditCommand, Cli, Command, ExportArgs, ScaleArg, ServeArgs};
use tudi::http::{self, AppState, ServerConfig};
use tudi::layer::{self, Registry};

/// mimalloc: review records and tiles allocate many short-lived buffers, and
/// glibc malloc was the top of the profile (see BENCHMARKS.md).
mod alloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check { layers } => check(&layers),
        Command::Review {
            plots,
            out,
            layers,
            rules,
            data_dir,
            store,
        } => tudi::offline::review_file(&plots, &out, &layers, &rules, &data_dir, store.as_deref()),
        Command::Audit {
            command: AuditCommand::Verify { data_dir, store },
        } => tudi::offline::audit_verify(&data_dir, store.as_deref()),
        Command::Keys { command } => tudi::client::keys(command),
        Command::Publish(args) => tudi::client::publish(args),
        Command::Export(args) => export(args),
        Command::Fixtures {
            scale,
            seed,
            out,
            layers_dir,
        } => fixtures(scale, seed, out, layers_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tudi::glyphs::set_font_dirs(args.fonts_dir.clone());
    let defs = layer::config::read_dir(&args.layers)?;
    // The shared PostgreSQL store, opened before the async runtime starts
    // (its client is synchronous and used on blocking threads only). The
    // pool covers the blocking threads that may query at once: key
    // lookups, review reads, publishes, the audit writer.
    let pg = match args.store.as_deref() {
        Some(url) => {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Some(tudi::store::pg::open(url, 4 * cores + 4)?)
        }
        None => None,
    };
    let review = if args.no_review {
        None
    } else {
        let rules = Arc::new(tudi::offline::load_rules(&args.rules, &defs)?);
        let store: Arc<dyn tudi::store::AuditStore> = match &pg {
            Some(pg) => pg.audit.clone(),
            None => Arc::new(tudi::store::SqliteStore::open(&args.data_dir)?),
        };
        Some((rules, store))
    };
    let styles = load_styles(args.styles.as_deref(), &defs)?;
    let mut config = ServerConfig {
        public_url: args.public_url,
        cache_bytes: args.cache_mb * 1024 * 1024,
        max_upload_bytes: args.max_upload_mb * 1024 * 1024,
        max_layer_vertices: args.max_layer_vertices,
        request_timeout: secs(args.request_timeout_s),
        long_request_timeout: secs(args.long_request_timeout_s),
        body_idle_timeout: secs(args.body_idle_timeout_s),
        header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout_s),
        max_renders: args
            .max_renders
            .map_or_else(http::state::default_max_renders, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        render_wait: std::time::Duration::from_millis(args.render_wait_ms),
        rate_per_s: args.rate_limit,
        rate_burst: args.rate_burst,
        trusted_proxies: args.trusted_proxy.clone(),
        public_metrics: args.public_metrics,
        ..ServerConfig::default()
    };
    config.render.max_bytes = args.max_tile_kb * 1000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.bind))?;
        let addr = listener.local_addr()?;
        let registry = Arc::new(Registry::default());
        let catalog: Arc<dyn tudi::store::Catalog> = match &pg {
            Some(pg) => pg.catalog.clone(),
            None => Arc::new(tudi::store::SqliteCatalog::open(&args.data_dir)?),
        };
        let mut publisher =
            tudi::publish::Publisher::new(&args.data_dir, catalog.clone(), registry.clone(), &defs);
        if let Some(pg) = &pg {
            publisher = publisher.with_versions(Arc::new(
                tudi::publish::postgis::PostGisVersions::new(pg.pool.clone(), &args.data_dir),
            ));
        }
        let publisher = Arc::new(publisher);
        let mut state = AppState::new(registry, defs.clone(), config)
            .with_catalog(catalog)
            .with_publisher(publisher);
        if let Some((rules, store)) = review {
            state = state.with_review(rules, store);
        }
        if let Some(styles) = styles {
            state = state.with_styles(Arc::new(styles));
        }
        let state = Arc::new(state);
        if let Some(pg) = &pg {
            // Follow publishes, rollbacks and deletes of other instances.
            http::propagate::spawn(state.clone(), pg.pool.clone())?;
        }
        tracing::info!("tudi listening on http://{addr} ({} layers configured)", defs.len());
        let loader_state = state.clone();
        let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<Vec<String>>();
        tokio::spawn(async move {
            // What the load frees goes back to the system before ready.
            let purge = alloc::purge_at_once();
            let errors = http::load_layers(loader_state, defs).await;
            drop(purge);
            if errors.is_empty() {
                tracing::info!("all layers loaded; ready");
            } else {
                let _ = fail_tx.send(errors);
            }
        });
        let shutdown = async move {
            tokio::select! {
                _ = http::shutdown_signal() => {},
                Ok(errors) = fail_rx => {
                    for e in &errors {
                        tracing::error!("{e}");
                    }
                    tracing::error!("start-up failed: {} layer(s) could not be loaded", errors.len());
                    std::process::exit(1);
                }
            }
        };
        http::serve(listener, state, shutdown).await?;
        Ok(())
    })
}

/// Seconds from the command line; 0 means no limit.
fn secs(s: u64) -> Option<std::time::Duration> {
    (s > 0).then(|| std::time::Duration::from_secs(s))
}

/// The styles of `--styles` (a bad style fails start-up), or of `styles/`
/// when it exists (a bad style there is logged and no style is served, so
/// `--layers` with another layer folder still starts).
fn load_styles(
    dir: Option<&std::path::Path>,
    defs: &[layer::LayerDef],
) -> anyhow::Result<Option<tudi::styles::Styles>> {
    let (dir, explicit) = match dir {
        Some(d) => (d, true),
        None => (std::path::Path::new("styles"), false),
    };
    if !explicit && !dir.is_dir() {
        return Ok(None);
    }
    match tudi::styles::load_dir_for(dir, defs) {
        Ok(styles) => {
            tracing::info!("{} style(s) loaded from {}", styles.len(), dir.display());
            Ok(Some(styles))
        }
        Err(e) if !explicit => {
            tracing::warn!("no styles served: {e} (pass --styles DIR to make this fatal)");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn check(dir: &std::path::Path) -> anyhow::Result<()> {
    let defs = layer::config::read_dir(dir)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut failed = 0;
    for r in layer::load_all(&defs, threads, &|_, _| {}) {
        match r {
            Ok((_, report)) => println!("{}", serde_json::to_string(&report)?),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} layer(s) failed to load");
    }
    Ok(())
}

fn fixtures(
    scale: ScaleArg,
    seed: u64,
    out: std::path::PathBuf,
    layers_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let scale = match scale {
        ScaleArg::Small => tudi::fixtures::Scale::Small,
        ScaleArg::District => tudi::fixtures::Scale::District,
        ScaleArg::City => tudi::fixtures::Scale::City,
    };
    let summary = tudi::fixtures::generate(&tudi::fixtures::FixtureOptions {
        scale,
        seed,
        out,
        layers_dir,
    })?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let bbox = args
        .bbox
        .as_deref()
        .map(tudi::export::parse_bbox)
        .transpose()?;
    let summary = tudi::export::run(&tudi::export::ExportOptions {
        layers_dir: args.layers_dir,
        layers: args.layers,
        bbox,
        minzoom: args.minzoom,
        maxzoom: args.maxzoom,
        out: args.out,
        include_restricted: args.include_restricted,
        force: args.force,
        threads: args.threads,
        progress: !args.quiet,
    })?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
