//! Single sign-on for the portal (issue 17): per instance, an OpenID Connect relying party for
//! KaseyaOne and for any other provider, its login modes (disabled, optional, required with
//! exceptions and a bypass link), the links from a provider's subjects to portal users, and
//! single logout. The server mounts the start and callback routes; the app's server functions
//! call the settings and the login page's parts.

pub mod login;
pub mod provider;
pub mod settings;
mod store;
