//! The module package VSA 9's License Manager installs (spec portal-c §1.1 step 2):
//! `UniView.vsaz`, a zip holding the module's definition (name, icon, the page VSA frames and
//! the custom value it asks at installation) and its icon. The package names no instance: the
//! installer types the instance's homerealm, and the module page opens the portal's login with
//! it (`/login?homerealm=…`), which signs in by single sign-on where the instance has it.
//!
//! Kaseya documents the package only as "a zip with an XML definition" (research §6); the
//! element names below are ours, kept in one place so they can follow Kaseya's when known.

use std::io::{Cursor, Write};

use domain::access::Viewer;
use domain::{DomainError, DomainResult, Portal};
use model::Action;
use zip::write::SimpleFileOptions;

/// The definition's file name inside the package.
pub const DEFINITION: &str = "manifest.xml";
pub const ICON: &str = "icon.svg";
/// The custom value VSA asks when the module is installed, and its placeholder in the URL.
pub const HOMEREALM_VALUE: &str = "homerealm";

const ICON_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f5fbf"/><path d="M8 9h16v4H8zm0 6h16v4H8zm0 6h16v4H8z" fill="#fff"/></svg>"##;

/// Escapes text for an XML attribute.
fn xml_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The module's definition for the portal at `public_url`.
pub fn definition(public_url: &str) -> String {
    let public_url = public_url.trim_end_matches('/');
    let entry = format!("{public_url}/login?homerealm={{{HOMEREALM_VALUE}}}");
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Module name="UniView" displayName="Backplane" vendor="Backplane" version="{version}">
  <Description>Backups of every customer, their alarms and jobs, inside VSA.</Description>
  <Icon file="{ICON}"/>
  <CustomValues>
    <CustomValue name="{HOMEREALM_VALUE}" label="Homerealm" required="true"
      description="The homerealm of your Backplane instance (the name you sign in with)."/>
  </CustomValues>
  <Navigation>
    <Page name="Backups" frame="true" url="{url}"/>
  </Navigation>
  <AllowedOrigin url="{origin}"/>
</Module>
"#,
        version = env!("CARGO_PKG_VERSION"),
        url = xml_attribute(&entry),
        origin = xml_attribute(public_url),
    )
}

/// The package bytes for the portal at `public_url`.
pub fn package(public_url: &str) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    writer.start_file(DEFINITION, options)?;
    writer.write_all(definition(public_url).as_bytes())?;
    writer.start_file(ICON, options)?;
    writer.write_all(ICON_SVG.as_bytes())?;
    Ok(writer.finish()?.into_inner())
}

/// The package a Superuser downloads from the VSA card.
pub fn download(portal: &Portal, viewer: &Viewer) -> DomainResult<Vec<u8>> {
    viewer.require(Action::ManageIntegrations)?;
    package(&portal.link("")).map_err(|e| DomainError::internal(format!("VSA module package: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_package_holds_the_definition_and_the_icon() {
        let bytes = package("https://backups.example.com/").unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        archive
            .by_name(DEFINITION)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.contains(r#"url="https://backups.example.com/login?homerealm={homerealm}""#));
        assert!(text.contains(r#"<CustomValue name="homerealm""#));
        assert!(archive.by_name(ICON).is_ok());
    }
}
