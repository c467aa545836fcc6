//! Piston's package manager endpoints (`/api/v2/packages`), which its CLI (`ppman list`,
//! `ppman install`) and clients such as ultra-piston call.
//!
//! Listing works as in Piston: every runtime this server knows (its runtime files), installed
//! or not, in Piston's package shape. Installing and removing do not: a Piston server downloads
//! and unpacks packages on request, while a tiderun runtime is a toolchain on the host plus a
//! runtime file, put there by an operator. So `POST` and `DELETE` answer 403 in Piston's error
//! shape with what the operator does instead (for the language the request names, when this
//! server knows it). No API key may install yet; when keys get roles, an administrator's key
//! could run the install an operator runs now.

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use runtimes::{Catalog, Runtime};
use serde::Deserialize;

use super::wire::{ErrorMessage, PackageInfo};
use super::PistonError;
use crate::body::JsonBody;
use crate::{ApiError, AppState};

/// The body of Piston's `POST`/`DELETE /api/v2/packages`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PackageRequest {
    language: Option<String>,
    version: Option<String>,
}

/// What an operator does instead of an API call, whatever the language.
const HOW: &str = "an operator installs a language's toolchain on the server's host (`tiderun \
runtimes install NAME` installs the packages its runtime file lists under [install]; `tiderun \
runtimes` shows what is installed), adds a runtime file to --runtimes-dir for a language tiderun \
does not ship, and restarts `tiderun serve`";

/// The runtimes this server knows, installed or not, as Piston's packages.
#[utoipa::path(get, path = "/api/v2/packages", tag = "piston",
    responses((status = 200, description = "Every runtime of this server, installed or not", body = [PackageInfo])))]
pub(super) async fn list(State(state): State<AppState>) -> Json<Vec<PackageInfo>> {
    let catalog = state.runner().engine().catalog();
    Json(catalog.iter().map(PackageInfo::from).collect())
}

/// Piston installs a package; tiderun's runtimes are installed by an operator on the host.
#[utoipa::path(post, path = "/api/v2/packages", tag = "piston",
    request_body(content = inline(serde_json::Value), description = "`{language, version}`, as Piston's"),
    responses((status = 403, description = "Runtimes are not installed over the API; the message says how", body = ErrorMessage)))]
pub(super) async fn install(
    State(state): State<AppState>,
    body: Result<JsonBody<PackageRequest, PistonError>, PistonError>,
) -> PistonError {
    refuse(&state, Method::POST, body)
}

/// Piston removes a package; tiderun's runtimes are removed by an operator on the host.
#[utoipa::path(delete, path = "/api/v2/packages", tag = "piston",
    request_body(content = inline(serde_json::Value), description = "`{language, version}`, as Piston's"),
    responses((status = 403, description = "Runtimes are not removed over the API; the message says how", body = ErrorMessage)))]
pub(super) async fn uninstall(
    State(state): State<AppState>,
    body: Result<JsonBody<PackageRequest, PistonError>, PistonError>,
) -> PistonError {
    refuse(&state, Method::DELETE, body)
}

/// The one answer of `POST` and `DELETE`, whatever the body (a body that cannot be read only
/// loses the part about its language).
fn refuse(
    state: &AppState,
    method: Method,
    body: Result<JsonBody<PackageRequest, PistonError>, PistonError>,
) -> PistonError {
    let request = body.map(|JsonBody(r, ..)| r).unwrap_or_default();
    let catalog = state.runner().engine().catalog();
    PistonError(ApiError::Forbidden(message(catalog, &method, &request)))
}

fn message(catalog: &Catalog, method: &Method, request: &PackageRequest) -> String {
    let verb = if method == Method::DELETE { "remove" } else { "install" };
    let general = format!("tiderun does not {verb} runtimes over its API: {HOW}");
    let Some(language) = request.language.as_deref().map(str::trim).filter(|l| !l.is_empty()) else {
        return general;
    };
    let Some(rt) = catalog.get(language) else {
        let version = request.version.as_deref().unwrap_or("*");
        return format!("this server has no runtime {language}-{version}; {general}");
    };
    match (&rt.version, rt.installed, method == Method::DELETE) {
        (Some(version), true, false) => format!("{} {version} is installed already; {general}", rt.name),
        (_, true, false) => format!("{} is installed already; {general}", rt.name),
        (_, true, true) => format!(
            "{} is removed by an operator (uninstalling its toolchain, or a runtime file in \
             --runtimes-dir that replaces it) and a restart; {general}",
            rt.name
        ),
        // The engine's words for a run of it (one wording), and what that command runs.
        (_, false, _) => format!(
            "{} ({}) and restarts `tiderun serve`; tiderun does not {verb} runtimes over its API",
            runtimes::ResolveError::NotInstalled {
                language: rt.name.clone()
            },
            install_hint(rt)
        ),
    }
}

/// How the runtime file says its toolchain is installed: `apt-get install gcc libc6-dev`.
fn install_hint(rt: &Runtime) -> String {
    let mut ways = Vec::new();
    if !rt.install.apt.is_empty() {
        ways.push(format!("apt-get install {}", rt.install.apt.join(" ")));
    }
    if !rt.install.npm.is_empty() {
        ways.push(format!("npm install -g {}", rt.install.npm.join(" ")));
    }
    if let Some(note) = &rt.install.note {
        ways.push(note.clone());
    }
    if ways.is_empty() {
        ways.push(format!("see {}", rt.source.display()));
    }
    ways.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let present = r#"
name = "shell"
display_name = "Shell"
aliases = ["sh"]
file = "main.sh"
run = ["/bin/sh", "{file}"]
detect = ["/bin/sh", "-c", "echo 'shell 1.2.3'"]
[example]
hello = "echo hi"
echo = "cat"
runtime_error = "exit 1"
"#;
        let absent = r#"
name = "no-such-language"
display_name = "No such language"
file = "main.nsl"
run = ["/nonexistent/nslc", "{file}"]
detect = ["/nonexistent/nslc", "--version"]
[example]
hello = "x"
echo = "cat"
runtime_error = "exit 1"
[install]
apt = ["nsl-compiler"]
note = "or build it"
"#;
        let mut c = Catalog::from_files([("shell.toml", present), ("no-such-language.toml", absent)]).expect("catalog");
        c.detect();
        c
    }

    fn asked(language: Option<&str>) -> PackageRequest {
        PackageRequest {
            language: language.map(str::to_owned),
            version: Some("3.0".into()),
        }
    }

    #[test]
    fn the_message_says_what_an_operator_does() {
        let c = catalog();
        let general = message(&c, &Method::POST, &asked(None));
        assert!(
            general.starts_with("tiderun does not install runtimes over its API: an operator installs"),
            "{general}"
        );
        assert!(
            general.contains("--runtimes-dir") && general.contains("restarts"),
            "{general}"
        );
        assert_eq!(
            message(&c, &Method::POST, &asked(Some("SH"))),
            format!("shell 1.2.3 is installed already; {general}")
        );
        assert_eq!(
            message(&c, &Method::POST, &asked(Some("no-such-language"))),
            "no-such-language is not installed on this server: an operator installs it with `tiderun runtimes \
             install no-such-language` (apt-get install nsl-compiler; or build it) and restarts `tiderun serve`; \
             tiderun does not install runtimes over its API"
        );
        assert_eq!(
            message(&c, &Method::POST, &asked(Some("fortran"))),
            format!("this server has no runtime fortran-3.0; {general}")
        );
        let removal = message(&c, &Method::DELETE, &asked(Some("shell")));
        assert!(removal.starts_with("shell is removed by an operator"), "{removal}");
        assert!(
            removal.contains("tiderun does not remove runtimes over its API"),
            "{removal}"
        );
    }
}
