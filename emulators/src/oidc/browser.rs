//! A browser at the provider, for tests: it keeps the provider's session cookie, never follows
//! redirects, fills the login and code pages, and returns what the provider answers the
//! relying party (state, code or error, from the form it posts or the redirect it sends).

// A test's helper: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used)]

use super::User;

/// A browser at the provider: it keeps the provider's session cookie and never follows redirects.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    provider_cookie: Option<String>,
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

impl Browser {
    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let mut request = Self::http().get(url);
        if let Some(cookie) = &self.provider_cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    async fn post(&mut self, url: &str, fields: &[(&str, &str)]) -> String {
        let response = Self::http().post(url).form(fields).send().await.unwrap();
        if let Some(cookie) = response.headers().get("set-cookie") {
            let cookie = cookie.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.provider_cookie = Some(cookie);
        }
        response.text().await.unwrap()
    }

    /// Follows the provider's pages with the user's credentials (and code, when asked) until
    /// the provider answers the portal; returns that answer as the callback sees it.
    pub async fn sign_in(
        &mut self,
        start_url: &str,
        user: &User,
        code: Option<&str>,
    ) -> (Option<String>, Option<String>, Option<String>) {
        let base = start_url.split("/connect/").next().unwrap().to_owned();
        let mut page = self.get(start_url).await.text().await.unwrap();
        if let Some(request) = hidden(&page, "request") {
            let fields = [
                ("request", request.as_str()),
                ("username", user.username.as_str()),
                ("organizationName", user.company.as_str()),
                ("password", user.password.as_str()),
            ];
            page = self
                .post(&format!("{base}/connect/authorize/login"), &fields)
                .await;
        }
        if let Some(pending) = hidden(&page, "pending") {
            let fields = [("pending", pending.as_str()), ("code", code.unwrap_or(""))];
            page = self
                .post(&format!("{base}/connect/authorize/verify"), &fields)
                .await;
        }
        (
            hidden(&page, "state"),
            hidden(&page, "code"),
            hidden(&page, "error"),
        )
    }
}
