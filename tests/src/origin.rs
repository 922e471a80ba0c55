//! The origin stub, on a real socket in this process, with its media host.

use std::sync::Arc;

use backend_stub::catalog::Catalog;
use backend_stub::knobs::Knobs;
use backend_stub::stats::Snapshot;
use backend_stub::{Api, Stub};

use crate::*;

/// The origin stub serving on a free port for as long as this lives, with
/// its media host (the target of `redirect_hops` redirects) on a second
/// listener at another address, 127.0.0.2, so that it is really another host.
pub struct Origin {
    pub stub: Arc<Stub>,
    pub url: String,
    /// The media host's base URL, `http://127.0.0.2:PORT` (the same app).
    pub media_url: String,
    server: tokio::task::JoinHandle<()>,
    media_server: tokio::task::JoinHandle<()>,
}

impl Origin {
    pub async fn start(knobs: Knobs) -> Origin {
        Origin::start_on(knobs, ORIGIN_TOKEN, 0).await
    }

    /// The stub with its own token on `port` (0: a free one).
    pub async fn start_on(knobs: Knobs, token: &str, port: u16) -> Origin {
        Origin::serve(Stub::new(token, knobs), port).await
    }

    /// The stub with a data set of its own (e.g. another size of contact centre).
    pub async fn start_with_catalog(knobs: Knobs, catalog: Catalog) -> Origin {
        Origin::serve(Stub::with_catalog(ORIGIN_TOKEN, knobs, catalog), 0).await
    }

    /// The stub speaking Twilio's REST API (`backend-stub --api twilio`),
    /// the demo data set, the parent account's Auth Token `ORIGIN_TOKEN`.
    pub async fn start_twilio(knobs: Knobs) -> Origin {
        Origin::start_twilio_on(knobs, ORIGIN_TOKEN, 0).await
    }

    /// The stub speaking Twilio's API with `token` as the parent account's
    /// Auth Token, on `port` (0: a free one).
    pub async fn start_twilio_on(knobs: Knobs, token: &str, port: u16) -> Origin {
        let stub = Stub::with_api(token, knobs, Catalog::demo(), Api::Twilio);
        Origin::serve(stub, port).await
    }

    /// The stub speaking Twilio's API with a data set of its own (e.g. a
    /// contact centre of another size), the Auth Token `ORIGIN_TOKEN`.
    pub async fn start_twilio_with_catalog(knobs: Knobs, catalog: Catalog) -> Origin {
        let stub = Stub::with_api(ORIGIN_TOKEN, knobs, catalog, Api::Twilio);
        Origin::serve(stub, 0).await
    }

    async fn serve(stub: Arc<Stub>, port: u16) -> Origin {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the stub");
        let url = format!("http://{}", listener.local_addr().expect("stub address"));
        // Linux routes all of 127.0.0.0/8 to loopback.
        let media_listener = tokio::net::TcpListener::bind("127.0.0.2:0")
            .await
            .expect("bind the stub's media host");
        let media_url = format!(
            "http://{}",
            media_listener.local_addr().expect("media host address")
        );
        stub.set_media_base(media_url.clone());
        let app = backend_stub::app(stub.clone());
        let media_app = app.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let media_server = tokio::spawn(async move {
            let _ = axum::serve(media_listener, media_app).await;
        });
        Origin {
            stub,
            url,
            media_url,
            server,
            media_server,
        }
    }

    pub fn stats(&self) -> Snapshot {
        self.stub.stats.snapshot()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.server.abort();
        self.media_server.abort();
    }
}
