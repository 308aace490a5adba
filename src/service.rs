//! `/health` and `/ready`, for load balancers and orchestrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::http::private_json;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_health).service(get_readiness);
}

/// A probe's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness probe.
///
/// Whether the process is up; it answers without touching the database.
#[utoipa::path(
    tag = "service",
    operation_id = "getHealth",
    responses((status = 200, description = "The process is up", body = HealthStatus)),
    security(())
)]
#[get("/health")]
pub async fn get_health() -> Result<HttpResponse, ApiError> {
    private_json(StatusCode::OK, &HealthStatus { status: "ok".into() })
}

/// Readiness probe.
///
/// Whether the service can do its work: 200 when the database answers, 503
/// when it does not.
#[utoipa::path(
    tag = "service",
    operation_id = "getReadiness",
    responses(
        (status = 200, description = "The database answers", body = HealthStatus),
        (status = 503, description = "The database does not answer", body = Problem),
    ),
    security(())
)]
#[get("/ready")]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.db.read(|conn| conn.batch_execute("SELECT 1").map_err(ApiError::unavailable)).await?;
    private_json(StatusCode::OK, &HealthStatus { status: "ready".into() })
}
