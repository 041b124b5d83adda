//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager),
//! plus a watch on the Lease so that a standby takes over as soon as the
//! leader releases it, not only when it expires.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::warn;

/// A running election: `leading` says whether this replica holds the Lease.
pub struct Leadership {
    /// True while this replica is the leader.
    pub leading: watch::Receiver<bool>,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), LeaseManagerError>>,
}

impl Leadership {
    /// Stops electing and releases the Lease if held, so a standby takes over at once.
    pub async fn release(self, timeout: Duration) -> Result<(), String> {
        let _ = self.stop.send(());
        match tokio::time::timeout(timeout, self.handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("not released within {timeout:?}")),
        }
    }
}

/// Starts electing on Lease `namespace/name` as `identity`.
pub async fn start(
    client: Client,
    namespace: &str,
    name: &str,
    identity: &str,
    duration_seconds: u64,
) -> Result<Leadership, LeaseManagerError> {
    let build = {
        let (client, namespace, name, identity) = (
            client.clone(),
            namespace.to_string(),
            name.to_string(),
            identity.to_string(),
        );
        move || {
            LeaseManagerBuilder::new(client.clone(), &name)
                .with_namespace(&namespace)
                .with_identity(&identity)
                .with_duration(duration_seconds)
                .with_grace((duration_seconds / 3).max(2))
                .with_field_manager(format!("wardops-lease-{identity}"))
                .build()
        }
    };
    let mut manager = build().await?;
    let (tx, leading) = watch::channel(false);
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let mut lease_events = watcher(
        Api::<Lease>::namespaced(client, namespace),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .backoff(crate::controller::cache::WatchBackoff::default())
    .touched_objects()
    .boxed();

    let handle = tokio::spawn(async move {
        let mut released = false;
        loop {
            if released {
                // The manager re-reads a Lease only once its cached copy expires:
                // a fresh one sees the release now.
                released = false;
                match build().await {
                    Ok(m) => manager = m,
                    Err(e) => warn!(error = %e, "leader election: cannot re-read the Lease"),
                }
            }
            let is_leader = *tx.borrow();
            tokio::select! {
                biased;
                _ = &mut stop_rx => break,
                changed = manager.changed() => match changed {
                    Ok(state) => {
                        tx.send_replace(state);
                    }
                    Err(e) => {
                        // Renewal failing means another replica may take over: stop leading.
                        warn!(error = %e, "leader election: Lease request failed");
                        tx.send_replace(false);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
                // A standby re-checks the Lease when its holder releases it,
                // instead of waiting for it to expire.
                Some(lease) = lease_events.next(), if !is_leader => {
                    let holder = lease.ok().and_then(|l| l.spec).and_then(|s| s.holder_identity);
                    released = holder.is_none_or(|h| h.is_empty());
                }
            }
        }
        manager.release().await
    });
    Ok(Leadership {
        leading,
        stop,
        handle,
    })
}
