//! The DataConnector gateway, `wardops gateway`: the one way a ward's pods
//! reach a city registry.
//!
//! - Proxy mode: `GET http://<connector>-connector.<ns>.svc:8080/<dataset>/<rest>?<query>`
//!   is forwarded to `<source.endpoint>/<dataset>/<rest>?<query>` with the
//!   gateway's own credentials, for the allowed datasets only, rate-limited.
//! - Sync mode: `wardops gateway sync` pulls every dataset into a snapshot on
//!   a volume; the gateway serves `GET /<dataset>` from the last complete one.
//!
//! See `docs/gateway.md` for the contract a ward's code relies on.

pub mod cli;
pub mod config;
pub mod credentials;
pub mod errors;
pub mod headers;
pub mod log;
pub mod metrics;
pub mod oauth2;
pub mod path;
pub mod ratelimit;
mod server;
pub mod sync;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use config::{AuthConfig, GatewayConfig, GatewayMode};
pub use log::Log;
pub use server::{REQUEST_ID, SNAPSHOT_TIME};
pub use sync::{SyncError, SyncResult, pull};

use config::FieldErrors;
use metrics::GatewayMetrics;
use server::App;

/// Why the gateway cannot start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is not valid.
    #[error("gateway configuration: {0}")]
    Invalid(FieldErrors),
    /// Sync mode serves from a data directory.
    #[error("mode is sync: pass --data-dir, the volume `wardops gateway sync` writes to")]
    DataDirRequired,
    /// A port cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A server failed.
    #[error("the gateway's HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// What the gateway takes besides its configuration.
#[derive(Clone)]
pub struct ServeOptions {
    /// Sync mode: the directory `wardops gateway sync` writes to.
    pub data_dir: Option<PathBuf>,
    /// Where access and event lines go (standard output by default).
    pub log: Log,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            data_dir: None,
            log: Log::stdout(),
        }
    }
}

/// A gateway with its ports bound, not yet serving.
pub struct Gateway {
    app: Arc<App>,
    listener: TcpListener,
    admin: TcpListener,
    addr: SocketAddr,
    admin_addr: SocketAddr,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServeError> {
    let bind_err = |source| ServeError::Bind { addr, source };
    let l = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = l.local_addr().map_err(bind_err)?;
    Ok((l, bound))
}

impl Gateway {
    /// Validates the configuration, loads the credentials (a failure makes
    /// the gateway unready, not absent) and binds both ports.
    pub async fn bind(config: GatewayConfig, options: ServeOptions) -> Result<Self, ServeError> {
        config.validate().map_err(ServeError::Invalid)?;
        if config.mode == GatewayMode::Sync && options.data_dir.is_none() {
            return Err(ServeError::DataDirRequired);
        }
        let (listener, addr) =
            bind(SocketAddr::new(config.listen_address, config.listen_port)).await?;
        let (admin, admin_addr) =
            bind(SocketAddr::new(config.listen_address, config.admin_port)).await?;
        let metrics = GatewayMetrics::new();
        let app = Arc::new(App::new(
            Arc::new(config),
            options.data_dir,
            metrics,
            options.log,
        ));
        Ok(Gateway {
            app,
            listener,
            admin,
            addr,
            admin_addr,
        })
    }

    /// The address the ward's pods call.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of `/metrics`, `/healthz`, `/readyz`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if let (Some(oauth), Some(credentials)) = (&self.app.oauth, &self.app.credentials) {
            tokio::spawn(oauth.clone().refresh_loop(credentials.clone(), rx.clone()));
        }
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let main = axum::serve(listener, server::router(self.app.clone()))
            .with_graceful_shutdown(stop(rx.clone()));
        let admin = axum::serve(self.admin, server::admin_router(self.app.clone()))
            .with_graceful_shutdown(stop(rx.clone()));
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        tokio::try_join!(main.into_future(), admin.into_future()).map_err(ServeError::Serve)?;
        Ok(())
    }
}

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    config: GatewayConfig,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Gateway::bind(config, options).await?.run(shutdown).await
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
