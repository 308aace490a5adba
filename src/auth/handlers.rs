//! `POST /v1/auth/token` and `GET /v1/auth/me`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::dto::{TokenRequest, TokenResponse};
use super::{CurrentEditor, password};
use crate::editors::dto::Editor;
use crate::editors::{self, normalize_email};
use crate::error::{ApiError, Problem};
use crate::http::{client_ip, private_json};
use crate::json::ApiJson;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_token).service(get_me);
}

/// Exchange an editor's email and password for an access token.
///
/// A wrong email and a wrong password get the same 401. Repeated failures,
/// per email and per client address, are answered with 429 and `Retry-After`.
#[utoipa::path(
    tag = "auth",
    operation_id = "createToken",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A new access token", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = Problem),
        (status = 429, description = "Too many failed attempts", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
    security(())
)]
#[post("/auth/token")]
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = normalize_email(&body.email);
    let address = client_ip(&req, &state.config.trusted_proxies).to_string();
    let (lookup_email, lookup_address) = (email.clone(), address.clone());
    let shared = state.clone();
    let editor = state
        .db
        .read(move |conn| {
            shared.login_throttle.check(conn, &lookup_email, &lookup_address)?;
            shared.jwt.refresh(conn, None)?;
            Ok(editors::find_by_email(conn, &lookup_email)?)
        })
        .await?;
    // Verify even for unknown or disabled editors, so timing tells nothing.
    let stored_hash = editor.as_ref().map(|e| e.password_hash.clone());
    let password_ok = web::block(move || password::verify(&body.password, stored_hash.as_deref()))
        .await
        .map_err(ApiError::internal)?;
    let editor = editor.filter(|e| password_ok && !e.disabled);

    let shared = state.clone();
    let Some(editor) = editor else {
        state.db.write(move |tx| Ok(shared.login_throttle.record_failure(tx, &email, &address)?)).await?;
        return Err(ApiError::Unauthorized("wrong email or password"));
    };
    state.db.write(move |tx| Ok(shared.login_throttle.record_success(tx, &email)?)).await?;
    let issued = state.jwt.issue(editor.id, editor.role, editor.token_version)?;
    private_json(
        StatusCode::OK,
        &TokenResponse { access_token: issued.token, token_type: "Bearer".into(), expires_in: issued.expires_in },
    )
}

/// The caller.
///
/// The editor behind the bearer token.
#[utoipa::path(
    tag = "auth",
    operation_id = "getCurrentEditor",
    responses((status = 200, description = "The caller", body = Editor)),
    security(("bearer" = []))
)]
#[get("/auth/me")]
pub async fn get_me(CurrentEditor(editor): CurrentEditor) -> Result<HttpResponse, ApiError> {
    private_json(StatusCode::OK, &Editor::from(editor))
}
