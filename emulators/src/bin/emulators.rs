//! `emulators <service> --listen ADDR --seed N`: serves one emulated third-party service.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Emulators of the third-party services Backplane talks to")]
struct Cli {
    #[command(subcommand)]
    service: Service,
    /// Address and port to serve on.
    #[arg(long, global = true, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Decides the generated data (names, counts), the same for the same seed.
    #[arg(long, global = true, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
enum Service {
    /// IT Glue's REST API (x-api-key, JSON:API, paging with meta, 3,000 requests / 5 min).
    Itglue {
        /// The API key the account accepts.
        #[arg(long, default_value = "ITG.emulator")]
        api_key: String,
        /// Organizations in the account.
        #[arg(long, default_value_t = 250)]
        organizations: usize,
    },
    /// Autotask PSA's REST API v1.0 (zone discovery, the header triple, queries with
    /// nextPageUrl, picklists, tickets and notes, 10,000 requests / hour, 3 threads / endpoint).
    Autotask {
        /// The API user's name (the zone lookup's `user`, the `UserName` header).
        #[arg(long, default_value = "api@backplane.example")]
        username: String,
        /// The API user's secret (the `Secret` header).
        #[arg(long, default_value = "emulator-secret")]
        secret: String,
        /// The tracking identifier (the `ApiIntegrationcode` header).
        #[arg(long, default_value = "EMULATOR-TRACKING-ID")]
        integration_code: String,
        /// Customer companies besides the MSP's own.
        #[arg(long, default_value_t = 120)]
        companies: usize,
    },
    /// ConnectWise PSA (Manage) REST API 3.0 (companyinfo discovery, Basic auth with a clientId,
    /// conditions, Link paging up to 1,000 a page, boards and their statuses, tickets and notes).
    Connectwise {
        /// The company id typed at login (`login/companyinfo/{id}`, before the `+` in Basic auth).
        #[arg(long, default_value = "backplane")]
        company_id: String,
        /// The API member's public key.
        #[arg(long, default_value = "emulatorPublicKey")]
        public_key: String,
        /// The API member's private key.
        #[arg(long, default_value = "emulatorPrivateKey")]
        private_key: String,
        /// The integration's client id (the `clientId` header).
        #[arg(long, default_value = "00000000-0000-4000-8000-00000000c0de")]
        client_id: String,
        /// Companies in the site, ids from 250 upward.
        #[arg(long, default_value_t = 120)]
        companies: usize,
    },
    /// Kaseya BMS API v2, also Vorex's (form login to a bearer token, the success/error/result
    /// envelope with failures as HTTP 200, accounts and locations, lookups, tickets and notes,
    /// 1,500 calls / hour / endpoint).
    Bms {
        /// The tenant: the MSP's company name in BMS (the login's `Tenant`).
        #[arg(long, default_value = "Backplane MSP")]
        tenant: String,
        /// The API user's name (the login's `UserName`).
        #[arg(long, default_value = "api@backplane.example")]
        username: String,
        /// The API user's password.
        #[arg(long, default_value = "emulator-password")]
        password: String,
        /// Accounts in the tenant, ids from 1001 upward.
        #[arg(long, default_value_t = 120)]
        companies: usize,
    },
    /// An OpenID Connect provider as KaseyaOne behaves (discovery, rotating JWKS, code flow with
    /// PKCE and nonce, form_post, username + company + password then a 2FA code, `amr`, silent
    /// sign-in, single logout). More clients and users: POST JSON to `/_emulator/clients` and
    /// `/_emulator/users`.
    Oidc {
        /// The registered client's id.
        #[arg(long, default_value = "backplane")]
        client_id: String,
        /// Its secret.
        #[arg(long, default_value = "emulator-secret")]
        client_secret: String,
        /// The portal's callback, registered as the client's redirect URI.
        #[arg(long, default_value = "http://127.0.0.1:3000/sso/callback")]
        redirect_uri: String,
        /// The portal's login page, registered as the post-logout redirect URI.
        #[arg(long, default_value = "http://127.0.0.1:3000/login")]
        post_logout_uri: String,
        /// A user who can sign in (password `emulator-password`, company `Backplane MSP`, 2FA code `123456`).
        #[arg(long, default_value = "tech@backplane.example")]
        username: String,
        /// Where browsers reach the login and logout pages, when a TLS proxy fronts them
        /// [default: the issuer, http://<listen>].
        #[arg(long)]
        front_channel: Option<String>,
    },
    /// Kaseya VSA 9's REST API (hashed `/auth` to a bearer token, the envelope with failures as
    /// HTTP 200, alarms listed with OData, read and closed, the system-alert trigger that raises
    /// an alarm and sends VSA's e-mail). Faults: POST `/_emulator/outage?seconds=N`,
    /// `/_emulator/lose-answers?count=N`, `/_emulator/expire-sessions`.
    Vsa {
        /// The REST API user's name.
        #[arg(long, default_value = "backplane-api")]
        username: String,
        /// The user's personal access token (it signs in in place of a password).
        #[arg(long, default_value = "00000000-0000-4000-8000-0000000000a5")]
        token: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), String> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let router = match cli.service {
        Service::Itglue {
            api_key,
            organizations,
        } => emulators::itglue::ItGlue::new(&api_key, organizations, cli.seed).router(),
        Service::Autotask {
            username,
            secret,
            integration_code,
            companies,
        } => {
            let credentials = emulators::autotask::Credentials {
                username,
                secret,
                integration_code,
            };
            emulators::autotask::Autotask::new(credentials, companies, cli.seed).router()
        }
        Service::Connectwise {
            company_id,
            public_key,
            private_key,
            client_id,
            companies,
        } => {
            let credentials = emulators::connectwise::Credentials {
                company_id,
                public_key,
                private_key,
                client_id,
            };
            emulators::connectwise::ConnectWise::new(credentials, companies, cli.seed).router()
        }
        Service::Bms {
            tenant,
            username,
            password,
            companies,
        } => {
            let credentials = emulators::bms::Credentials {
                username,
                password,
                tenant,
            };
            emulators::bms::Bms::new(credentials, companies, cli.seed).router()
        }
        Service::Oidc {
            client_id,
            client_secret,
            redirect_uri,
            post_logout_uri,
            username,
            front_channel,
        } => {
            let provider = emulators::oidc::Oidc::new(&format!("http://{}", cli.listen), cli.seed);
            if let Some(front) = front_channel {
                provider.set_front_channel(&front);
            }
            provider.add_client(emulators::oidc::Client {
                client_id,
                client_secret: Some(client_secret),
                redirect_uris: vec![redirect_uri],
                post_logout_redirect_uris: vec![post_logout_uri],
            });
            provider.add_user(emulators::oidc::User {
                username,
                company: "Backplane MSP".into(),
                password: "emulator-password".into(),
                subject: "k1-0001".into(),
                mfa_code: Some("123456".into()),
                email_verified: true,
            });
            provider.router()
        }
        Service::Vsa { username, token } => emulators::vsa::Vsa::new(&username, &token).router(),
    };
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", cli.listen))?;
    println!("emulator listening on http://{}", cli.listen);
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}
