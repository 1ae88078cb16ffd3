//! Listing a container's blobs (List Blobs, flat, by prefix), page by page under the
//! source's one retry budget: what `export-repair logs` needs to find a drive's logs.

use azure_storage_blob::{
    BlobContainerClient, BlobContainerClientOptions, models::BlobContainerClientListBlobsOptions,
};
use futures::TryStreamExt as _;

use super::{Auth, AzureBlobSource, Budget, Failure, Sas, encode_path};
use crate::source::{BlobRef, SourceError};

/// One blob of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub container: String,
    pub name: String,
    pub length: u64,
    pub last_modified: Option<time::OffsetDateTime>,
    /// With its quotes, as `If-Match` wants it.
    pub etag: Option<String>,
}

impl ListedBlob {
    /// The blob, to read it with [`crate::source::BlobSource::read_range`].
    pub fn blob_ref(&self) -> BlobRef {
        BlobRef {
            container: self.container.clone(),
            name: self.name.clone(),
            snapshot: None,
        }
    }
}

impl AzureBlobSource {
    /// Every blob of `container` whose name starts with `prefix`, in the service's (name)
    /// order. A container that does not exist has no blobs.
    pub async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
    ) -> Result<Vec<ListedBlob>, SourceError> {
        let client = self.container_client(container)?;
        // Errors name the container as the "blob" they concern.
        let subject = BlobRef {
            container: container.to_string(),
            name: prefix.to_string(),
            snapshot: None,
        };
        let what = format!("list {container}/{prefix}*");
        let mut listed = Vec::new();
        let mut marker: Option<String> = None;
        let mut budget = Budget::default();
        loop {
            let options = BlobContainerClientListBlobsOptions {
                prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
                marker: marker.clone(),
                ..Default::default()
            };
            let page = async {
                let mut pages = client.list_blobs(Some(options))?.into_pages();
                let page = pages.try_next().await?;
                page.map(|page| page.into_model()).transpose()
            };
            let failure = match tokio::time::timeout(self.retry.response_timeout, page).await {
                Err(_) => self.no_response(),
                Ok(Err(error)) => match self.classify(error, &subject, None) {
                    Failure::Fatal(SourceError::NotFound { .. }) => return Ok(Vec::new()),
                    other => other,
                },
                Ok(Ok(None)) => return Ok(listed),
                Ok(Ok(Some(page))) => {
                    for item in page.blob_items {
                        let Some(name) = item.name else { continue };
                        let properties = item.properties.unwrap_or_default();
                        listed.push(ListedBlob {
                            container: container.to_string(),
                            name,
                            length: properties.content_length.unwrap_or_default(),
                            last_modified: properties.last_modified,
                            etag: properties
                                .etag
                                .map(|etag| format!("\"{}\"", etag.to_string().trim_matches('"'))),
                        });
                    }
                    match page.next_marker.filter(|next| !next.is_empty()) {
                        Some(next) => {
                            marker = Some(next);
                            budget = Budget::default();
                            continue;
                        }
                        None => return Ok(listed),
                    }
                }
            };
            self.after_failure(&mut budget, &what, failure, false)
                .await?;
        }
    }

    fn container_client(&self, container: &str) -> Result<BlobContainerClient, SourceError> {
        if let Auth::Sas(Sas {
            container: Some(sas_container),
            ..
        }) = &self.auth
            && sas_container != container
        {
            return Err(SourceError::Config(format!(
                "the SAS is for container {sas_container:?}, not {container:?}"
            )));
        }
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "{}/{}",
            self.endpoint.path().trim_end_matches('/'),
            encode_path(container)
        ));
        if let Auth::Sas(sas) = &self.auth {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &sas.params {
                pairs.append_pair(k, v);
            }
        }
        let options = BlobContainerClientOptions {
            client_options: self.client_options.clone(),
            ..Default::default()
        };
        BlobContainerClient::new(url, self.token_credential(), Some(options))
            .map_err(|e| SourceError::Config(self.redact(&e.to_string())))
    }

    /// The container a SAS is restricted to, if it names one.
    /// Whether the credentials are a SAS that names no container (a container SAS given
    /// bare reaches one container the name does not say).
    pub fn has_bare_sas(&self) -> bool {
        matches!(
            &self.auth,
            Auth::Sas(Sas {
                container: None,
                ..
            })
        )
    }

    pub fn sas_container(&self) -> Option<&str> {
        match &self.auth {
            Auth::Sas(Sas {
                container: Some(container),
                ..
            }) => Some(container),
            _ => None,
        }
    }
}
