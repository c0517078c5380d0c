//! IT Glue (research §7, spec portal-c §1.9 and §5.5): the `x-api-key` header, JSON:API
//! documents with kebab-case attributes, `page[size]` up to 1000 with a `meta` block, filters
//! in snake case (`filter[organization_id]`), 429 past 3,000 requests in five minutes.

use std::time::Duration;

use serde_json::{Value, json};

/// Where IT Glue's API is, by the region of the account.
pub const US: &str = "https://api.itglue.com";
pub const EU: &str = "https://api.eu.itglue.com";
pub const AU: &str = "https://api.au.itglue.com";

/// The largest page IT Glue serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Why a call did not succeed, in words an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItGlueError {
    #[error("IT Glue refused the API key (check it, and that it is not paused in IT Glue).")]
    BadKey,
    #[error("IT Glue could not be reached at {0}.")]
    Unreachable(String),
    #[error("IT Glue's rate limit is reached (3,000 requests in 5 minutes); the next pass continues.")]
    RateLimited,
    #[error("IT Glue is unavailable (HTTP {0}); the next pass tries again.")]
    Unavailable(u16),
    #[error("IT Glue refused the request: {0}")]
    Refused(String),
    #[error("IT Glue's answer was not understood: {0}")]
    Malformed(String),
}

/// An IT Glue organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub name: String,
}

/// One page of a list, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub total_pages: u32,
    pub total_count: u64,
}

/// A configuration (IT Glue's name for a device), as far as the portal writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub notes: String,
}

/// What the portal writes into a configuration: its name and the backup facts in its notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationFacts {
    pub organization_id: i64,
    pub name: String,
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct ItGlueClient {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
}

impl ItGlueClient {
    pub fn new(base_url: &str, api_key: &str) -> Result<ItGlueClient, ItGlueError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ItGlueError::Unreachable(e.to_string()))?;
        Ok(ItGlueClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.trim().to_owned(),
        })
    }

    /// Checks the key with the cheapest call IT Glue has (one organization).
    pub async fn test(&self) -> Result<(), ItGlueError> {
        self.organizations(1, 1, None).await.map(|_| ())
    }

    /// One page of the account's organizations by name, optionally only the one named exactly.
    pub async fn organizations(
        &self,
        page: u32,
        size: u32,
        name: Option<&str>,
    ) -> Result<Page<Organization>, ItGlueError> {
        let mut query = vec![
            ("page[size]".to_owned(), size.clamp(1, MAX_PAGE_SIZE).to_string()),
            ("page[number]".to_owned(), page.max(1).to_string()),
            ("sort".to_owned(), "name".to_owned()),
        ];
        if let Some(name) = name {
            query.push(("filter[name]".to_owned(), name.to_owned()));
        }
        let document = self.get("/organizations", &query).await?;
        let items = resources(&document)?
            .iter()
            .map(|r| {
                Ok(Organization {
                    id: id_of(r)?,
                    name: text(r, "name"),
                })
            })
            .collect::<Result<_, ItGlueError>>()?;
        page_of(&document, items)
    }

    /// The organization's configuration named `name`, if there is one.
    pub async fn configuration_named(
        &self,
        organization_id: i64,
        name: &str,
    ) -> Result<Option<Configuration>, ItGlueError> {
        let query = vec![
            ("filter[organization_id]".to_owned(), organization_id.to_string()),
            ("filter[name]".to_owned(), name.to_owned()),
            ("page[size]".to_owned(), "1".to_owned()),
        ];
        let document = self.get("/configurations", &query).await?;
        resources(&document)?.first().map(configuration).transpose()
    }

    /// Writes the facts into the organization's configuration of that name: updated when it
    /// exists, else created. Returns it as IT Glue stored it.
    pub async fn upsert_configuration(
        &self,
        facts: &ConfigurationFacts,
    ) -> Result<Configuration, ItGlueError> {
        let attributes = json!({"name": facts.name, "notes": facts.notes});
        match self
            .configuration_named(facts.organization_id, &facts.name)
            .await?
        {
            Some(existing) => {
                let body = json!({"data": {"type": "configurations", "attributes": attributes}});
                let document = self
                    .send(
                        reqwest::Method::PATCH,
                        &format!("/configurations/{}", existing.id),
                        &body,
                    )
                    .await?;
                configuration(&document["data"])
            }
            None => {
                let mut attributes = attributes;
                attributes["organization-id"] = json!(facts.organization_id);
                let body = json!({"data": {"type": "configurations", "attributes": attributes}});
                let document = self.send(reqwest::Method::POST, "/configurations", &body).await?;
                configuration(&document["data"])
            }
        }
    }

    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ItGlueError> {
        let request = self.http.get(format!("{}{path}", self.base_url)).query(query);
        self.answer(request).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, ItGlueError> {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("content-type", "application/vnd.api+json")
            .body(body.to_string());
        self.answer(request).await
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, ItGlueError> {
        let response = request
            .header("x-api-key", &self.api_key)
            .header("accept", "application/vnd.api+json")
            .send()
            .await
            .map_err(|_| ItGlueError::Unreachable(self.base_url.clone()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ItGlueError::Malformed(e.to_string()))?;
        match status {
            200..=299 => serde_json::from_str(&text).map_err(|e| ItGlueError::Malformed(e.to_string())),
            401 | 403 => Err(ItGlueError::BadKey),
            429 => Err(ItGlueError::RateLimited),
            500..=599 => Err(ItGlueError::Unavailable(status)),
            _ => Err(ItGlueError::Refused(
                first_error(&text).unwrap_or_else(|| format!("HTTP {status}")),
            )),
        }
    }
}

/// The `detail` (or `title`) of a JSON:API error document's first error.
fn first_error(text: &str) -> Option<String> {
    let document: Value = serde_json::from_str(text).ok()?;
    let error = document["errors"].get(0)?;
    error["detail"]
        .as_str()
        .or(error["title"].as_str())
        .map(str::to_owned)
}

fn resources(document: &Value) -> Result<&Vec<Value>, ItGlueError> {
    document["data"]
        .as_array()
        .ok_or_else(|| ItGlueError::Malformed("no data array".into()))
}

fn id_of(resource: &Value) -> Result<i64, ItGlueError> {
    resource["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .or_else(|| resource["id"].as_i64())
        .ok_or_else(|| ItGlueError::Malformed("a resource without an id".into()))
}

fn text(resource: &Value, attribute: &str) -> String {
    resource["attributes"][attribute]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn configuration(resource: &Value) -> Result<Configuration, ItGlueError> {
    Ok(Configuration {
        id: id_of(resource)?,
        organization_id: resource["attributes"]["organization-id"]
            .as_i64()
            .ok_or_else(|| ItGlueError::Malformed("a configuration without organization-id".into()))?,
        name: text(resource, "name"),
        notes: text(resource, "notes"),
    })
}

fn page_of<T>(document: &Value, items: Vec<T>) -> Result<Page<T>, ItGlueError> {
    let meta = &document["meta"];
    let number = |key: &str| {
        meta[key]
            .as_u64()
            .ok_or_else(|| ItGlueError::Malformed(format!("meta.{key} is missing")))
    };
    Ok(Page {
        items,
        page: u32::try_from(number("current-page")?).unwrap_or(u32::MAX),
        total_pages: u32::try_from(number("total-pages")?).unwrap_or(u32::MAX),
        total_count: number("total-count")?,
    })
}
