//! Wire types of the auth endpoints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::fields::{LoginEmail, LoginPassword};

/// Credentials exchanged for an access token.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct TokenRequest {
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub email: LoginEmail,
    #[validate(custom(function = "crate::fields::check"))]
    #[schema(inline)]
    pub password: LoginPassword,
}

/// A bearer token for the editor endpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT; send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}
