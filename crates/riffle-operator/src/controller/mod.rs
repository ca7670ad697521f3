//! The operator's loop: kube's runtime watches the resources (and the
//! JobManager Deployments and pods of FlinkDeployments' clusters, cached in
//! [`clusters`]) and queues reconciliations;
//! each one runs on a blocking thread as observe → decide (the kind's
//! `rules`) → write the status → act → write the status again.
//!
//! Any change of a resource wakes it, its JobManager's changes too; the
//! operator's own status write wakes it once more, and that reconciliation
//! writes nothing when nothing changed (the rules are idempotent), so writes
//! do not chain. Progress is also followed by the requeue the rules ask for.
//! A failed reconciliation is retried with the configured backoff; a spec
//! error waits for the spec to change; a write that lost to a newer version
//! of the resource (a stale cached copy) is retried at once.

mod autoscaling;
mod clusters;
mod deployments;
mod session_jobs;
mod snapshots;
mod verdicts;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use k8s_openapi::NamespaceResourceScope;
use kube::api::PostParams;
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource, ResourceExt};
use riffle_common::config::Configuration;
use riffle_kubernetes::Kube;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::autoscaler::metrics::Window;
use crate::deployment::rules::Note;
use crate::error::OperatorError;
use crate::metrics::Metrics;
use crate::settings::OperatorSettings;
use crate::spec_diff;
use clusters::ClusterCache;
use verdicts::Verdicts;

/// What every reconciliation shares.
pub struct Context {
    kube: Kube,
    defaults: Configuration,
    settings: OperatorSettings,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    failures: Mutex<HashMap<String, u32>>,
    /// The autoscaler's observations, per resource (`namespace/name`).
    windows: Mutex<HashMap<String, Window>>,
    /// Whether each resource's spec plans.
    verdicts: Verdicts,
    /// The clusters as the watches see them.
    clusters: ClusterCache,
}

impl Context {
    /// The context of an operator with configuration `defaults`.
    pub fn new(
        kube: Kube,
        defaults: Configuration,
        settings: OperatorSettings,
        metrics: Arc<Metrics>,
    ) -> Context {
        let reporter = Reporter {
            controller: "riffle-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(kube.client(), reporter),
            kube,
            defaults,
            settings,
            metrics,
            failures: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
            verdicts: Verdicts::default(),
            clusters: ClusterCache::default(),
        }
    }

    /// The work queue's settings: how many resources are reconciled at once.
    fn controller_config(&self) -> kube::runtime::controller::Config {
        kube::runtime::controller::Config::default().concurrency(self.settings.parallelism)
    }

    /// The autoscaler's window of resource `key`, taken out while it is used.
    fn take_window(&self, key: &str) -> Window {
        self.windows
            .lock()
            .map(|mut w| w.remove(key).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Puts a window back.
    fn put_window(&self, key: String, window: Window) {
        if let Ok(mut w) = self.windows.lock() {
            w.insert(key, window);
        }
    }

    /// Forgets a window (the job stopped, or the resource went).
    fn forget_window(&self, key: &str) {
        if let Ok(mut w) = self.windows.lock() {
            w.remove(key);
        }
    }

    /// Whether `spec` of `resource` (`Kind namespace/name`) is valid:
    /// `check` runs once per distinct spec (see [`verdicts`]).
    fn check_spec(
        &self,
        resource: &str,
        spec: &impl Serialize,
        check: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let hash = serde_json::to_string(spec).map_or(0, |text| spec_diff::text_hash(&text));
        self.verdicts.get_or_check(resource, hash, || {
            self.metrics.spec_checked();
            check()
        })
    }

    /// Forgets the spec check of `resource` (`Kind namespace/name`): it went.
    fn forget_spec(&self, resource: &str) {
        self.verdicts.forget(resource);
    }

    /// The namespaces to watch: `None` is all.
    fn scopes(&self) -> Vec<Option<String>> {
        if self.settings.namespaces.is_empty() {
            vec![None]
        } else {
            self.settings.namespaces.iter().cloned().map(Some).collect()
        }
    }

    /// An API of kind `K` in `scope` (all namespaces when `None`).
    fn api<K>(&self, scope: &Option<String>) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        match scope {
            Some(ns) => Api::namespaced(self.kube.client(), ns),
            None => Api::all(self.kube.client()),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A stream of reconciliation results, for logging.
type Results = BoxStream<'static, ()>;

/// Runs the controllers over the watched namespaces until their watches end
/// (SIGTERM).
pub async fn run(ctx: Arc<Context>) {
    let mut streams: Vec<Results> = Vec::new();
    for scope in ctx.scopes() {
        streams.push(deployments::controller(&ctx, &scope));
        streams.push(session_jobs::controller(&ctx, &scope));
        streams.push(snapshots::controller(&ctx, &scope));
    }
    futures_util::stream::select_all(streams)
        .for_each(|()| async {})
        .await;
}

/// Logs a controller's results (its errors are already handled by the
/// error policy; what reaches here are watch problems).
fn logged<T: Debug, E: std::fmt::Display>(r: Result<T, E>) {
    if let Err(e) = r {
        tracing::debug!(error = %e, "controller event");
    }
}

/// The retry policy of every kind: spec errors wait for a change, waiting
/// steps and lost races are retried soon, the rest backs off.
fn error_policy<K>(obj: &K, e: &OperatorError, ctx: &Context) -> Requeue
where
    K: Resource<DynamicType = ()>,
{
    if let OperatorError::Waiting(why) = e {
        tracing::debug!(resource = %obj.name_any(), "{why}");
        return Requeue::requeue(Duration::from_secs(1));
    }
    if e.is_conflict() {
        tracing::debug!(resource = %obj.name_any(), "stale copy of the resource; reconciling again");
        return Requeue::requeue(Duration::from_millis(200));
    }
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key(obj)).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    if e.is_permanent() {
        tracing::warn!(resource = %obj.name_any(), error = %e, "the spec cannot be deployed");
        return Requeue::await_change();
    }
    let pause = ctx.settings.retry.backoff(failures);
    tracing::warn!(resource = %obj.name_any(), error = %e, retry_in_ms = pause.as_millis() as u64, "reconciliation failed");
    Requeue::requeue(pause)
}

/// `Kind/namespace/name`, the key of a resource in the operator's maps.
fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// Forgets a resource's failures after a successful reconciliation.
fn succeeded<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K) {
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(&key(obj));
    }
}

/// A kind of resource the operator manages: namespaced, read and written
/// whole, moved between threads.
trait Managed:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Managed for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// kubectl's copy of the object it last applied, kept in an annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The controller of kind `K` in `scope`. Its cache keeps each resource
/// without what the operator never reads: the managedFields and kubectl's
/// last-applied copy, which together are about as large as the resource
/// itself again (status writes go to the status subresource, which leaves
/// metadata as it is on the server).
fn watch<K: Managed>(ctx: &Context, scope: &Option<String>) -> Controller<K> {
    let (reader, writer) = reflector::store();
    let resources = watcher(ctx.api::<K>(scope), watcher::Config::default())
        .default_backoff()
        .modify(|o: &mut K| {
            o.meta_mut().managed_fields = None;
            if let Some(a) = o.meta_mut().annotations.as_mut() {
                a.remove(LAST_APPLIED);
            }
        })
        .reflect(writer)
        .applied_objects();
    Controller::for_stream(resources, reader)
}

/// Runs the controller `watch` of kind `K`: kube's work queue at the
/// configured parallelism, the kind's finalizer around its `apply` and
/// `cleanup` steps, and the retry policy; until SIGTERM.
fn run_kind<K: Managed>(
    ctx: &Arc<Context>,
    watch: Controller<K>,
    finalizer_name: &'static str,
    apply: Step<K>,
    cleanup: Step<K>,
) -> Results {
    watch
        .with_config(ctx.controller_config())
        .shutdown_on_signal()
        .run(
            move |obj, ctx| with_finalizer(obj, ctx, finalizer_name, apply, cleanup),
            |obj, e, ctx| error_policy(obj.as_ref(), e, &ctx),
            Arc::clone(ctx),
        )
        .map(logged)
        .boxed()
}

/// A blocking reconciliation step of kind `K`.
type Step<K> = fn(&K, &Context) -> Result<Requeue, OperatorError>;

/// Runs a blocking step on a blocking thread.
async fn on_thread<K: Send + Sync + 'static>(
    ctx: &Arc<Context>,
    obj: Arc<K>,
    step: Step<K>,
) -> Result<Requeue, OperatorError> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || step(&obj, &ctx))
        .await
        .map_err(|e| OperatorError::Stopped(e.to_string()))?
}

/// One reconciliation under the finalizer `name`: `apply` while the
/// resource lives (the finalizer added first), `cleanup` once it is being
/// deleted (the finalizer removed when it succeeds). Timed for the metrics.
async fn with_finalizer<K>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    name: &'static str,
    apply: Step<K>,
    cleanup: Step<K>,
) -> Result<Requeue, OperatorError>
where
    K: Managed,
{
    let api: Api<K> = Api::namespaced(ctx.kube.client(), &obj.namespace().unwrap_or_default());
    let started = Instant::now();
    let result = finalizer(&api, name, obj, |event| {
        let ctx = Arc::clone(&ctx);
        async move {
            match event {
                finalizer::Event::Apply(obj) => on_thread(&ctx, obj, apply).await,
                finalizer::Event::Cleanup(obj) => on_thread(&ctx, obj, cleanup).await,
            }
        }
    })
    .await
    .map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => OperatorError::Stopped(other.to_string()),
    });
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    result
}

/// Publishes an Event on a resource (best effort: a lost Event is logged).
fn publish<K: Resource<DynamicType = ()>>(ctx: &Context, obj: &K, note: &Note) {
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.to_string(),
        note: Some(note.message.chars().take(1000).collect()),
        // kube's recorder folds an Event into an earlier one of the same
        // type, reason and action (counting it, keeping the first message):
        // the action carries the message's hash so only repeats are folded.
        action: format!(
            "{}-{:08x}",
            note.reason,
            crate::spec_diff::text_hash(&note.message) as u32
        ),
        secondary: None,
    };
    let reference = obj.object_ref(&());
    let recorder = ctx.recorder.clone();
    match ctx
        .kube
        .run(async move { Ok(recorder.publish(&event, &reference).await) })
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot record an Event"),
        Err(e) => tracing::warn!(error = %e, "cannot record an Event"),
    }
    let level = if note.warning { "warning" } else { "normal" };
    tracing::info!(resource = %obj.name_any(), reason = note.reason, level, "{}", note.message);
}

/// Replaces a resource's status with `with_status` (optimistically: a
/// stale copy fails with a conflict and is reconciled again from fresh
/// state). Returns the written resource.
fn write_status<K>(ctx: &Context, with_status: K) -> Result<K, OperatorError>
where
    K: Managed,
{
    let mut o = with_status;
    o.meta_mut().managed_fields = None;
    let api: Api<K> = Api::namespaced(ctx.kube.client(), &o.namespace().unwrap_or_default());
    let name = o.name_any();
    let what = format!("writing the status of {name}");
    ctx.kube
        .run(async move { Ok(api.replace_status(&name, &PostParams::default(), &o).await) })?
        .map_err(OperatorError::api(what))
}

/// Labels of the operator's Lease.
pub fn lease_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "riffle-operator".to_string())])
}

/// How long a reconcile may be waited for at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
