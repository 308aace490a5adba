//! Authentication: tokens for editors, and the extractors that guard writes.
//!
//! A handler states what it needs in its signature: [`CurrentEditor`] (any
//! active editor or admin), [`CurrentAdmin`], or [`MaybeEditor`] for public
//! reads that show more to editors. Every check reads the editor row, so
//! disabling an editor or changing its role takes effect at the next request.

pub(crate) mod dto;
pub(crate) mod handlers;
pub mod keys;
pub mod password;
pub(crate) mod throttle;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::editors::{self, EditorRow, Role};
use crate::error::ApiError;
use crate::state::{AppState, State};
use keys::IssuedToken;

/// The active editor (or admin) behind a valid bearer token.
pub struct CurrentEditor(pub EditorRow);

/// The active admin behind a valid bearer token; an editor gets 403.
pub struct CurrentAdmin(pub EditorRow);

/// The editor behind the token when one is sent; `None` for anonymous
/// callers. A token that is sent but invalid is still a 401.
pub struct MaybeEditor(pub Option<EditorRow>);

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for MaybeEditor {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(MaybeEditor) })
    }
}

impl FromRequest for CurrentEditor {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            authenticate(&req)
                .await?
                .map(CurrentEditor)
                .ok_or(ApiError::Unauthorized("this operation needs an editor's bearer token"))
        })
    }
}

impl FromRequest for CurrentAdmin {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let editor = CurrentEditor::from_request(req, payload);
        Box::pin(async move {
            let CurrentEditor(editor) = editor.await?;
            if editor.role == Role::Admin {
                Ok(CurrentAdmin(editor))
            } else {
                Err(ApiError::Forbidden("this operation is for admins only"))
            }
        })
    }
}

/// Exchanges an editor's email and password for a token. A wrong email and
/// a wrong password fail alike (and take as long).
///
/// The attempt is counted before the password is checked and given back
/// when it was right ([`throttle`]), so parallel attempts cannot slip past
/// the limit; and the check waits for a turn ([`password::CheckSlots`]), so
/// a burst of logins cannot run unboundedly many at once.
pub async fn log_in(state: &State, email: &str, password: String, address: IpAddr) -> Result<IssuedToken, ApiError> {
    let email = editors::normalize_email(email);
    let client = crate::http::client_key(address);
    let mut turn = state.password_checks.turn().await?;
    let shared = state.clone();
    let lookup_email = email.clone();
    let editor = state
        .db
        .write(move |tx| {
            shared.login_throttle.admit(tx, &lookup_email, client)?;
            // Sign with the newest key from the first moment it exists: a
            // token signed with a key after its retirement is refused.
            shared.jwt.reload(tx)?;
            Ok(editors::find_by_email(tx, &lookup_email)?)
        })
        .await?;
    // Verify even for unknown or disabled editors, so timing tells nothing.
    // The turn goes with the check: if the request is dropped, the check
    // still holds it until it ends.
    let stored_hash = editor.as_ref().map(|e| e.password_hash.clone());
    let password_ok = web::block(move || {
        let ok = password::verify(&mut turn, &password, stored_hash.as_deref());
        drop(turn);
        ok
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(editor) = editor.filter(|e| password_ok && !e.disabled) else {
        // Already counted.
        return Err(ApiError::Unauthorized("wrong email or password"));
    };
    let shared = state.clone();
    state.db.write(move |tx| Ok(shared.login_throttle.refund(tx, &email, client)?)).await?;
    state.jwt.issue(editor.id, editor.role, editor.token_version)
}

async fn authenticate(req: &HttpRequest) -> Result<Option<EditorRow>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim().to_owned())
        .ok_or(ApiError::Unauthorized("the Authorization header must be: Bearer <token>"))?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState is not registered")))?
        .clone();
    let shared = state.clone();
    let (claims, editor) = state
        .db
        .read(move |conn| {
            shared.jwt.refresh(conn, keys::kid_of(&token).as_deref())?;
            let claims = shared.jwt.verify(&token)?;
            let id: i64 =
                claims.sub.parse().map_err(|_| ApiError::Unauthorized("the access token is invalid or has expired"))?;
            Ok((claims, editors::find(conn, id)?))
        })
        .await?;
    match editor {
        Some(editor) if !editor.disabled && editor.token_version == claims.ver => Ok(Some(editor)),
        _ => Err(ApiError::Unauthorized("the access token has been revoked")),
    }
}
