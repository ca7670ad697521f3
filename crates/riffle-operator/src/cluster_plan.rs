//! A FlinkDeployment's spec as a native cluster: the configuration its pods
//! start with, its pod templates, and the job it runs.
//!
//! The operator's own configuration is the base (Flink's default
//! configuration); `spec.flinkConfiguration` overrides it, and the spec's
//! typed fields override both, as the Flink operator applies them: image,
//! service account, resources, replicas, parallelism. Pure: the same spec
//! always gives the same plan, so validating a spec and deploying it agree.

use k8s_openapi::api::core::v1::Pod;
use riffle_common::config::{self as keys, Configuration, Origin};
use riffle_kubernetes::native::descriptor::JobSource;
use riffle_kubernetes::native::spec::check_cluster_id;
use riffle_kubernetes::native::yaml::pod_from_json;

use crate::autoscaler::settings::AutoscalerSettings;
use crate::crd::common::JobSpec;
use crate::crd::deployment::{DeploymentMode, FlinkDeploymentSpec, Resource};
use crate::spec_diff::flatten;

/// What a spec deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterPlan {
    /// The cluster's configuration.
    pub config: Configuration,
    /// The JobManager pod template (role template, else the common one).
    pub jobmanager_template: Option<Pod>,
    /// The TaskManager pod template.
    pub taskmanager_template: Option<Pod>,
    /// The job, in application mode.
    pub job: Option<JobSource>,
}

/// The resource's identity in the cluster it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `metadata.name`: the cluster id.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
}

fn resource_origin(field: &str) -> Origin {
    Origin::Resource {
        field: field.to_string(),
    }
}

/// Builds the plan of `spec` over the operator's `defaults`; an error names
/// the spec field at fault.
pub fn plan(
    target: Target<'_>,
    spec: &FlinkDeploymentSpec,
    defaults: &Configuration,
) -> Result<ClusterPlan, String> {
    let c = config(target, spec, defaults)?;
    let jm = spec.job_manager.clone().unwrap_or_default();
    let tm = spec.task_manager.clone().unwrap_or_default();
    let template = |role: Option<&serde_json::Value>, field: &str| -> Result<Option<Pod>, String> {
        let (value, field) = match (role, &spec.pod_template) {
            (Some(v), _) => (v, field),
            (None, Some(v)) => (v, "spec.podTemplate"),
            (None, None) => return Ok(None),
        };
        pod_from_json(value)
            .map(Some)
            .map_err(|e| format!("{field}: {e}"))
    };
    let jobmanager_template = template(jm.pod_template.as_ref(), "spec.jobManager.podTemplate")?;
    let taskmanager_template = template(tm.pod_template.as_ref(), "spec.taskManager.podTemplate")?;
    let job = spec.job.as_ref().map(job_source).transpose()?;
    Ok(ClusterPlan {
        config: c,
        jobmanager_template,
        taskmanager_template,
        job,
    })
}

/// The cluster's configuration alone: what [`plan`] gives as `config`,
/// without reading the job's SQL or the pod templates (every
/// reconciliation needs the configuration; few need the rest).
pub fn config(
    target: Target<'_>,
    spec: &FlinkDeploymentSpec,
    defaults: &Configuration,
) -> Result<Configuration, String> {
    check_cluster_id(target.name).map_err(|e| format!("metadata.name: {e}"))?;
    if spec.mode == Some(DeploymentMode::Standalone) {
        return Err(
            "spec.mode standalone is not supported: Riffle's operator deploys native clusters \
             (the JobManager creates its TaskManager pods); remove spec.mode"
                .into(),
        );
    }
    let mut c = defaults.clone();
    // The operator's own settings are not the cluster's.
    let own: Vec<String> = c
        .entries()
        .map(|(k, _)| k.to_string())
        .filter(|k| k.starts_with("kubernetes.operator."))
        .collect();
    for k in own {
        c.remove(&k);
    }
    if let Some(conf) = &spec.flink_configuration {
        if !conf.is_object() {
            return Err("spec.flinkConfiguration must be an object of keys and values".into());
        }
        for (k, v) in flatten(conf) {
            c.set_from(k, v, resource_origin("spec.flinkConfiguration"));
        }
    }
    AutoscalerSettings::resolve(&c).map_err(|e| e.to_string())?;
    let set = |c: &mut Configuration, key: &str, value: String, field: &str| {
        c.set_from(key, value, resource_origin(field));
    };
    set(
        &mut c,
        keys::KUBERNETES_CLUSTER_ID,
        target.name.into(),
        "metadata.name",
    );
    set(
        &mut c,
        keys::KUBERNETES_NAMESPACE,
        target.namespace.into(),
        "metadata.namespace",
    );
    if let Some(image) = &spec.image {
        set(&mut c, keys::KUBERNETES_IMAGE, image.clone(), "spec.image");
    }
    if let Some(p) = &spec.image_pull_policy {
        set(
            &mut c,
            keys::KUBERNETES_PULL_POLICY,
            p.clone(),
            "spec.imagePullPolicy",
        );
    }
    if let Some(sa) = &spec.service_account {
        set(
            &mut c,
            keys::KUBERNETES_SERVICE_ACCOUNT,
            sa.clone(),
            "spec.serviceAccount",
        );
    }
    let jm = spec.job_manager.clone().unwrap_or_default();
    let tm = spec.task_manager.clone().unwrap_or_default();
    if let Some(r) = jm.replicas {
        set(
            &mut c,
            keys::KUBERNETES_JM_REPLICAS,
            r.to_string(),
            "spec.jobManager.replicas",
        );
    }
    resource(&mut c, jm.resource.as_ref(), Role::JobManager);
    resource(&mut c, tm.resource.as_ref(), Role::TaskManager);
    if let Some(job) = &spec.job {
        if let Some(p) = job.parallelism.filter(|p| *p > 0) {
            set(
                &mut c,
                keys::PARALLELISM_DEFAULT,
                p.to_string(),
                "spec.job.parallelism",
            );
        }
        if let Some(replicas) = tm.replicas {
            // Flink: taskManager.replicas fixes the TaskManagers, and with
            // them the parallelism.
            let slots = c
                .count(keys::TASKMANAGER_SLOTS)
                .map_err(|e| e.to_string())?;
            let p = usize::try_from(replicas.max(1)).unwrap_or(1) * slots;
            set(
                &mut c,
                keys::PARALLELISM_DEFAULT,
                p.to_string(),
                "spec.taskManager.replicas",
            );
        }
        if job.allow_non_restored_state == Some(true) {
            set(
                &mut c,
                keys::SAVEPOINT_IGNORE_UNCLAIMED_STATE,
                "true".into(),
                "spec.job.allowNonRestoredState",
            );
        }
        // The operator reads the job's end before removing the cluster.
        set(
            &mut c,
            keys::SHUTDOWN_ON_APPLICATION_FINISH,
            "false".into(),
            "spec.job",
        );
    }
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

#[derive(Clone, Copy)]
enum Role {
    JobManager,
    TaskManager,
}

fn resource(c: &mut Configuration, r: Option<&Resource>, role: Role) {
    let Some(r) = r else { return };
    let (cpu_key, memory_key, field) = match role {
        Role::JobManager => (
            keys::KUBERNETES_JM_CPU,
            keys::JOBMANAGER_MEMORY_PROCESS_SIZE,
            "spec.jobManager.resource",
        ),
        Role::TaskManager => (
            keys::KUBERNETES_TM_CPU,
            keys::TASKMANAGER_MEMORY_PROCESS_SIZE,
            "spec.taskManager.resource",
        ),
    };
    if let Some(cpu) = r.cpu {
        c.set_from(
            cpu_key,
            cpu.to_string(),
            resource_origin(&format!("{field}.cpu")),
        );
    }
    if let Some(m) = &r.memory {
        c.set_from(
            memory_key,
            m.clone(),
            resource_origin(&format!("{field}.memory")),
        );
    }
}

/// Where the job's SQL is: `job.sql` inline, a `.sql` `jarURI`, or (the
/// Flink operator's SQL runner) the `.sql` file `args` names.
pub fn job_source(job: &JobSpec) -> Result<JobSource, String> {
    let in_image = |uri: &str, field: &str| -> Result<JobSource, String> {
        match uri.strip_prefix("local://") {
            Some(path) if path.starts_with('/') => Ok(JobSource::InImage(path.to_string())),
            _ if uri.starts_with('/') => Ok(JobSource::InImage(uri.to_string())),
            _ => Err(format!(
                "{field} '{uri}': Riffle runs SQL files inside the image (local:///path/job.sql); \
                 put the script in spec.job.sql or in the image"
            )),
        }
    };
    let sql_arg = job.args.iter().find(|a| a.ends_with(".sql"));
    match (&job.sql, &job.jar_uri, sql_arg) {
        (Some(sql), None, None) => {
            riffle_sql::parse_statements(sql).map_err(|e| format!("spec.job.sql: {e}"))?;
            Ok(JobSource::Shipped(sql.clone()))
        }
        (Some(_), _, _) => Err(
            "spec.job.sql is set together with spec.job.jarURI or a .sql argument: give the \
             job once"
                .into(),
        ),
        (None, _, Some(arg)) => in_image(arg, "spec.job.args"),
        (None, Some(uri), None) if uri.ends_with(".sql") => in_image(uri, "spec.job.jarURI"),
        (None, Some(uri), None) => Err(format!(
            "spec.job.jarURI '{uri}' is not a SQL file: Riffle runs SQL; give spec.job.sql, a \
             .sql jarURI, or the SQL runner's .sql file in spec.job.args"
        )),
        (None, None, None) => Err(
            "spec.job has no job: give spec.job.sql, a .sql jarURI (local:///...), or a .sql \
             file in spec.job.args"
                .into(),
        ),
    }
}

/// A FlinkSessionJob's `job.autoscaler.enabled: true` is refused rather
/// than ignored: the autoscaler rescales a FlinkDeployment's job through its
/// cluster's spec, and a session job has no cluster of its own to rescale.
pub fn refuse_session_autoscaling(c: &Configuration) -> Result<(), String> {
    match c.flag(keys::AUTOSCALER_ENABLED) {
        Ok(false) => Ok(()),
        Ok(true) => Err(format!(
            "{}: the autoscaler scales the jobs of FlinkDeployments (application clusters), \
             not session jobs; remove the key, or run the job as a FlinkDeployment",
            keys::AUTOSCALER_ENABLED
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Target<'static> = Target {
        name: "orders",
        namespace: "data",
    };

    fn spec(v: serde_json::Value) -> Result<FlinkDeploymentSpec, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn typed_fields_override_the_configuration_and_the_defaults() -> Result<(), String> {
        let s = spec(json!({
            "image": "riffle:test",
            "serviceAccount": "flink",
            "flinkConfiguration": {
                "taskmanager.numberOfTaskSlots": "2",
                "parallelism.default": "9",
                "execution": { "checkpointing": { "interval": "5 s" } }
            },
            "jobManager": { "resource": { "cpu": 0.5, "memory": "1g" } },
            "taskManager": { "replicas": 3 },
            "job": { "sql": "SELECT 1;", "parallelism": 4 }
        }))?;
        let defaults: Configuration = [
            ("kubernetes.container.image.ref", "riffle:default"),
            ("kubernetes.operator.reconcile.interval", "1 min"),
        ]
        .into_iter()
        .collect();
        let p = plan(T, &s, &defaults)?;
        let c = &p.config;
        assert_eq!(c.get("kubernetes.container.image.ref"), Some("riffle:test"));
        assert_eq!(c.get("kubernetes.cluster-id"), Some("orders"));
        assert_eq!(c.get("kubernetes.namespace"), Some("data"));
        assert_eq!(c.get("kubernetes.service-account"), Some("flink"));
        assert_eq!(c.get("execution.checkpointing.interval"), Some("5 s"));
        assert_eq!(c.get("kubernetes.jobmanager.cpu.amount"), Some("0.5"));
        assert_eq!(c.get("jobmanager.memory.process.size"), Some("1g"));
        // replicas × slots wins over job.parallelism, which wins over the key.
        assert_eq!(c.get("parallelism.default"), Some("6"));
        assert_eq!(
            c.get("execution.shutdown-on-application-finish"),
            Some("false")
        );
        assert_eq!(c.get("kubernetes.operator.reconcile.interval"), None);
        assert_eq!(p.job, Some(JobSource::Shipped("SELECT 1;".into())));
        Ok(())
    }

    #[test]
    fn autoscaler_settings_are_checked_and_session_jobs_refuse_autoscaling() -> Result<(), String> {
        let s = spec(json!({
            "flinkConfiguration": {
                "job.autoscaler.enabled": "true",
                "job.autoscaler.utilization.max": "0.5"
            },
            "job": { "sql": "SELECT 1;" }
        }))?;
        let e = plan(T, &s, &Configuration::new()).err().unwrap_or_default();
        assert!(e.contains("job.autoscaler.utilization.target"), "{e}");
        let on: Configuration = [("job.autoscaler.enabled", "true")].into_iter().collect();
        let e = refuse_session_autoscaling(&on).err().unwrap_or_default();
        assert!(e.contains("not session jobs"), "{e}");
        Ok(())
    }

    #[test]
    fn a_bad_value_names_its_field() -> Result<(), String> {
        let s = spec(json!({ "flinkConfiguration": { "taskmanager.numberOfTaskSlots": "two" } }))?;
        let e = plan(T, &s, &Configuration::new()).err().unwrap_or_default();
        assert!(e.contains("taskmanager.numberOfTaskSlots"), "{e}");
        assert!(e.contains("spec.flinkConfiguration"), "{e}");
        let s = spec(json!({ "job": { "sql": "SELEC 1;" } }))?;
        let e = plan(T, &s, &Configuration::new()).err().unwrap_or_default();
        assert!(
            e.starts_with("spec.job.sql:") && e.contains("at 1:1"),
            "{e}"
        );
        let bad = Target {
            name: "Orders_1",
            namespace: "data",
        };
        let e = plan(bad, &spec(json!({}))?, &Configuration::new())
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("metadata.name:"), "{e}");
        let s = spec(json!({ "podTemplate": { "spec": { "containerz": [{ "name": "x" }] } } }))?;
        let e = plan(T, &s, &Configuration::new()).err().unwrap_or_default();
        assert!(
            e.contains("spec.podTemplate") && e.contains("containerz"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn the_job_comes_from_sql_a_sql_jar_uri_or_the_sql_runner_args() -> Result<(), String> {
        let job = |v: serde_json::Value| -> Result<JobSpec, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        };
        assert_eq!(
            job_source(&job(
                json!({ "jarURI": "local:///opt/riffle/usrlib/q.sql" })
            )?)?,
            JobSource::InImage("/opt/riffle/usrlib/q.sql".into())
        );
        assert_eq!(
            job_source(&job(json!({
                "jarURI": "local:///opt/flink/usrlib/sql-runner.jar",
                "args": ["/opt/flink/usrlib/sql-scripts/statement-set.sql"]
            }))?)?,
            JobSource::InImage("/opt/flink/usrlib/sql-scripts/statement-set.sql".into())
        );
        let e = job_source(&job(json!({ "jarURI": "local:///opt/flink/job.jar" }))?)
            .err()
            .unwrap_or_default();
        assert!(e.contains("not a SQL file"), "{e}");
        let e = job_source(&job(json!({ "jarURI": "https://x/q.sql" }))?)
            .err()
            .unwrap_or_default();
        assert!(e.contains("inside the image"), "{e}");
        Ok(())
    }
}
