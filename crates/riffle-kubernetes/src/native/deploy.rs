//! The apiserver calls of native mode: a client creates a cluster and finds
//! its REST endpoint; an application's JobManager deletes its cluster.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use riffle_common::config::{Configuration, HighAvailability, Origin};

use crate::native::descriptor::Descriptor;
use crate::native::objects::{self, config_map_name, rest_service_name};
use crate::native::spec::NativeSpec;
use crate::{Kube, KubeError, names};

/// Creates the cluster: the JobManager Deployment first, then (owned by it)
/// the ConfigMap and the two Services. A failure after the Deployment
/// deletes it again, which removes what was created with it.
pub fn create_cluster(kube: &Kube, spec: &NativeSpec, d: &Descriptor) -> Result<(), KubeError> {
    let ns = kube.namespace().to_string();
    let deployments: Api<Deployment> = Api::namespaced(kube.client(), &ns);
    let mut deployment = objects::jobmanager_deployment(spec, &ns, &d.mode, d.unset);
    if let Some(owner) = &d.owner.reference {
        deployment.metadata.owner_references = Some(vec![owner.clone()]);
    }
    if !d.owner.annotations.is_empty() {
        deployment
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(d.owner.annotations.clone());
    }
    let id = spec.cluster_id.clone();
    let created = {
        let (api, id, ns) = (deployments.clone(), id.clone(), ns.clone());
        kube.run(async move {
            api.create(&PostParams::default(), &deployment)
                .await
                .map_err(|e| match &e {
                    kube::Error::Api(s) if s.is_already_exists() => KubeError::Invalid(format!(
                        "a cluster with id {id} already exists in namespace {ns} (Deployment \
                         {id}); choose another kubernetes.cluster-id or delete it with \
                         `kubectl -n {ns} delete deployment/{id}`"
                    )),
                    _ => KubeError::Api {
                        what: format!("creating Deployment {id}"),
                        source: e,
                    },
                })
        })?
    };
    let owner = objects::owner_reference(&created);
    let mut config_map = objects::config_map(spec, &ns, d.files.clone());
    let mut internal = objects::internal_service(spec, &ns);
    let mut rest = objects::rest_service(spec, &ns);
    for meta in [
        &mut config_map.metadata,
        &mut internal.metadata,
        &mut rest.metadata,
    ] {
        meta.owner_references = owner.clone().map(|o| vec![o]);
    }
    let client = kube.client();
    let ns2 = ns.clone();
    let owned = kube.run(async move {
        let pp = PostParams::default();
        Api::<ConfigMap>::namespaced(client.clone(), &ns2)
            .create(&pp, &config_map)
            .await
            .map_err(KubeError::api("creating the configuration ConfigMap"))?;
        let services = Api::<Service>::namespaced(client, &ns2);
        services
            .create(&pp, &internal)
            .await
            .map_err(KubeError::api("creating the internal Service"))?;
        services
            .create(&pp, &rest)
            .await
            .map_err(KubeError::api("creating the REST Service"))?;
        Ok(())
    });
    if let Err(e) = owned {
        let _ = delete_cluster(kube, &id);
        return Err(e);
    }
    Ok(())
}

/// Deletes the JobManager Deployment; the garbage collector deletes
/// everything it owns (pods, Services, the ConfigMap). HA objects are not
/// owned by it and stay, so a cluster re-created with the same id resumes.
pub fn delete_cluster(kube: &Kube, cluster_id: &str) -> Result<(), KubeError> {
    let api: Api<Deployment> = Api::namespaced(kube.client(), kube.namespace());
    let id = cluster_id.to_string();
    kube.run(async move {
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(&id, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(KubeError::Api {
                what: format!("deleting Deployment {id}"),
                source: e,
            }),
        }
    })
}

/// The configuration a running cluster was created with.
pub fn cluster_configuration(kube: &Kube, cluster_id: &str) -> Result<Configuration, KubeError> {
    let name = config_map_name(cluster_id);
    let cm = kube.get::<ConfigMap>(&name)?.ok_or_else(|| {
        KubeError::Invalid(format!(
            "there is no Riffle cluster {cluster_id} in namespace {} (no ConfigMap {name}); \
             check kubernetes.cluster-id and kubernetes.namespace",
            kube.namespace()
        ))
    })?;
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("config.yaml"))
        .cloned()
        .unwrap_or_default();
    Configuration::from_yaml(&text, &|_| Origin::Riffle).map_err(KubeError::from)
}

/// The `host:port` a client reaches the cluster's REST API at: with
/// Kubernetes HA the leader's address from the HA ConfigMap (it follows
/// failovers), else the REST Service's, by its type.
pub fn rest_endpoint(kube: &Kube, cluster_id: &str) -> Result<String, KubeError> {
    let config = cluster_configuration(kube, cluster_id)?;
    let cluster = riffle_common::ClusterConfig::resolve(&config)?;
    if let HighAvailability::Kubernetes(ha) = &cluster.high_availability {
        let url = kube
            .get::<ConfigMap>(&names::cluster_config_map(&ha.cluster_id))?
            .and_then(|cm| cm.data?.get(names::REST_LEADER_KEY).cloned());
        let url = url.ok_or_else(|| {
            KubeError::Invalid(format!(
                "cluster {cluster_id} has no leading JobManager yet (no REST address in its \
                 HA ConfigMap); wait until a JobManager pod is ready"
            ))
        })?;
        return Ok(url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string());
    }
    let name = rest_service_name(cluster_id);
    let service = kube.get::<Service>(&name)?.ok_or_else(|| {
        KubeError::Invalid(format!(
            "cluster {cluster_id} has no REST Service {name} in namespace {}",
            kube.namespace()
        ))
    })?;
    let needs_nodes = service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("NodePort");
    let nodes = if needs_nodes {
        let api: Api<Node> = Api::all(kube.client());
        kube.run(async move {
            api.list(&ListParams::default())
                .await
                .map(|l| l.items)
                .map_err(KubeError::api("listing nodes for the NodePort address"))
        })?
    } else {
        Vec::new()
    };
    let address_type = config
        .opt_enum(riffle_common::config::KUBERNETES_NODE_PORT_ADDRESS_TYPE)?
        .unwrap_or("InternalIP");
    endpoint_from_service(&service, &nodes, address_type, kube.namespace())
        .map_err(KubeError::Invalid)
}

/// The REST endpoint a Service gives a client, as Flink's client finds it:
/// a LoadBalancer's ingress, a node's address with the NodePort, or the
/// Service's DNS name (reachable from inside the cluster only).
pub fn endpoint_from_service(
    service: &Service,
    nodes: &[Node],
    node_address_type: &str,
    namespace: &str,
) -> Result<String, String> {
    let name = service.metadata.name.clone().unwrap_or_default();
    let spec = service.spec.clone().unwrap_or_default();
    let port = spec
        .ports
        .as_ref()
        .and_then(|p| {
            p.iter()
                .find(|p| p.name.as_deref() == Some("rest"))
                .cloned()
        })
        .ok_or_else(|| format!("Service {name} has no port named rest"))?;
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "LoadBalancer" => {
            let ingress = service
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref())
                .and_then(|i| i.first())
                .and_then(|i| i.ip.clone().or_else(|| i.hostname.clone()))
                .ok_or_else(|| {
                    format!(
                        "the LoadBalancer of Service {name} has no address yet; try again shortly"
                    )
                })?;
            Ok(format!("{ingress}:{}", port.port))
        }
        "NodePort" => {
            let node_port = port
                .node_port
                .ok_or_else(|| format!("Service {name} has no nodePort yet"))?;
            let address = nodes
                .iter()
                .filter_map(|n| n.status.as_ref()?.addresses.clone())
                .flatten()
                .find(|a| a.type_ == node_address_type)
                .map(|a| a.address)
                .ok_or_else(|| {
                    format!(
                        "no node has an address of type {node_address_type} for NodePort \
                         Service {name} (kubernetes.rest-service.exposed.node-port-address-type)"
                    )
                })?;
            Ok(format!("{address}:{node_port}"))
        }
        _ => Ok(format!("{name}.{namespace}:{}", port.port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        LoadBalancerIngress, LoadBalancerStatus, NodeAddress, NodeStatus, ServicePort, ServiceSpec,
        ServiceStatus,
    };
    use kube::api::ObjectMeta;

    fn service(type_: &str, node_port: Option<i32>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("orders-rest".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(type_.into()),
                ports: Some(vec![ServicePort {
                    name: Some("rest".into()),
                    port: 8081,
                    node_port,
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn node(addresses: &[(&str, &str)]) -> Node {
        Node {
            status: Some(NodeStatus {
                addresses: Some(
                    addresses
                        .iter()
                        .map(|(t, a)| NodeAddress {
                            type_: t.to_string(),
                            address: a.to_string(),
                        })
                        .collect(),
                ),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn each_service_type_gives_its_address() {
        assert_eq!(
            endpoint_from_service(&service("ClusterIP", None), &[], "InternalIP", "data"),
            Ok("orders-rest.data:8081".to_string())
        );
        let nodes = [node(&[
            ("Hostname", "n1"),
            ("InternalIP", "10.0.0.5"),
            ("ExternalIP", "203.0.113.9"),
        ])];
        assert_eq!(
            endpoint_from_service(
                &service("NodePort", Some(30081)),
                &nodes,
                "InternalIP",
                "data"
            ),
            Ok("10.0.0.5:30081".to_string())
        );
        assert_eq!(
            endpoint_from_service(
                &service("NodePort", Some(30081)),
                &nodes,
                "ExternalIP",
                "data"
            ),
            Ok("203.0.113.9:30081".to_string())
        );
        let e = endpoint_from_service(
            &service("NodePort", Some(30081)),
            &[node(&[])],
            "InternalIP",
            "d",
        )
        .unwrap_err();
        assert!(e.contains("node-port-address-type"), "{e}");
        let mut lb = service("LoadBalancer", Some(30081));
        assert!(endpoint_from_service(&lb, &[], "InternalIP", "d").is_err());
        lb.status = Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(vec![LoadBalancerIngress {
                    hostname: Some("lb.example".into()),
                    ..LoadBalancerIngress::default()
                }]),
            }),
            ..ServiceStatus::default()
        });
        assert_eq!(
            endpoint_from_service(&lb, &[], "InternalIP", "d"),
            Ok("lb.example:8081".to_string())
        );
    }
}
