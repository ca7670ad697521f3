//! The operator installs or upgrades its own CRDs at start-up when asked
//! (`riffle operator run --install-crds`): Helm installs a chart's CRDs once
//! and never upgrades them, so a new operator version would otherwise run
//! against the old schemas.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use riffle_kubernetes::Kube;

use crate::error::OperatorError;

/// Creates each CRD, or replaces the existing one with this version's.
pub fn install_crds(kube: &Kube) -> Result<(), OperatorError> {
    for crd in crate::crd::crds() {
        let api: Api<CustomResourceDefinition> = Api::all(kube.client());
        let name = crd.metadata.name.clone().unwrap_or_default();
        let what = format!("installing CRD {name}");
        let applied = kube.run(async move {
            let result = match api.get_opt(&name).await {
                Ok(Some(existing)) => {
                    let mut crd = crd;
                    crd.metadata.resource_version = existing.metadata.resource_version;
                    api.replace(&name, &PostParams::default(), &crd)
                        .await
                        .map(|_| "updated")
                }
                Ok(None) => api
                    .create(&PostParams::default(), &crd)
                    .await
                    .map(|_| "created"),
                Err(e) => Err(e),
            };
            Ok(result.map(|how| (name, how)))
        })?;
        let (name, how) = applied.map_err(OperatorError::api(what))?;
        tracing::info!(crd = %name, "CRD {how}");
    }
    Ok(())
}
