//! Native Kubernetes mode's commands as a user meets them when something is
//! wrong: every mistake is reported before (or instead of) touching a
//! cluster, with what to do. The happy paths run on the real test cluster
//! (`tests/kubernetes/run.sh native native-application`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::process::Command;

/// `riffle ARGS` with no configuration and a kubeconfig that points at a
/// closed port: (exit code, stderr).
fn riffle(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: \
         https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    \
         namespace: data\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_riffle"))
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("RIFFLE_CONF_DIR")
        .env_remove("FLINK_CONF_DIR")
        .env_remove("RIFFLE_PROPERTIES")
        .env_remove("FLINK_PROPERTIES")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("riffle runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn fails_with(args: &[&str], parts: &[&str]) {
    let (code, err) = riffle(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    for p in parts {
        assert!(err.contains(p), "{args:?}: expected '{p}' in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_session_needs_a_valid_cluster_id_and_readable_templates() {
    fails_with(&["kubernetes-session"], &["-Dkubernetes.cluster-id"]);
    fails_with(
        &["kubernetes-session", "-Dkubernetes.cluster-id=Orders_1"],
        &["lower case letters"],
    );
    fails_with(
        &[
            "kubernetes-session",
            "-Dkubernetes.cluster-id=orders",
            "-Dkubernetes.pod-template-file.default=/no/such/template.yaml",
        ],
        &["/no/such/template.yaml"],
    );
    fails_with(
        &[
            "kubernetes-session",
            "-Dkubernetes.cluster-id=orders",
            "-Dkubernetes.jobmanager.replicas=2",
        ],
        &["high-availability.type"],
    );
    fails_with(
        &[
            "kubernetes-session",
            "-Dkubernetes.cluster-id=orders",
            "-Dkubernetes.rest-service.exposed.type=Ingress",
        ],
        &["kubernetes.rest-service.exposed.type", "NodePort"],
    );
}

#[test]
fn an_unreachable_apiserver_is_named() {
    fails_with(
        &["kubernetes-session", "-Dkubernetes.cluster-id=orders"],
        &["Deployment orders"],
    );
    fails_with(
        &[
            "list",
            "--target",
            "kubernetes-session",
            "-Dkubernetes.cluster-id=orders",
        ],
        &["ConfigMap flink-config-orders"],
    );
}

#[test]
fn an_application_checks_its_target_and_script_first() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("job.sql");
    std::fs::write(
        &sql,
        "CREATE TABLE t (a INT) WITH ('connector' = 'datagen');\nINSERT INTO t SELEC a FROM t;\n",
    )
    .unwrap();
    let sql = sql.to_str().unwrap();
    fails_with(
        &["run-application", "--target", "yarn-application", sql],
        &["kubernetes-application"],
    );
    fails_with(
        &[
            "run-application",
            "--target",
            "kubernetes-application",
            "-Dkubernetes.cluster-id=orders",
            sql,
        ],
        &["job.sql", "SQL parse error at 2:15"],
    );
    fails_with(
        &[
            "run-application",
            "-t",
            "kubernetes-application",
            "-Dkubernetes.cluster-id=orders",
            "/no/such/job.sql",
        ],
        &["cannot read SQL file '/no/such/job.sql'"],
    );
}

#[test]
fn client_commands_name_a_missing_id_or_an_unknown_target() {
    fails_with(
        &["list", "--target", "kubernetes-session"],
        &["-Dkubernetes.cluster-id=<id>"],
    );
    fails_with(
        &[
            "cancel",
            "--target",
            "yarn-session",
            "0123456789abcdef0123456789abcdef",
        ],
        &["unknown --target 'yarn-session'"],
    );
}
