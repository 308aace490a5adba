//! `/health` and `/ready`, for load balancers and orchestrators.

use actix_web::get;
use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::http::{Reply, private_json};
use crate::state::State;

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
    tag = "service", operation_id = "getHealth", security(()),
    responses((status = 200, description = "The process is up", body = HealthStatus))
)]
#[get("/health")]
pub async fn get_health() -> Reply {
    private_json(StatusCode::OK, &HealthStatus { status: "ok".into() })
}

/// Readiness probe.
///
/// Whether the service can do its work: 200 when the database answers, 503
/// when it does not.
#[utoipa::path(
    tag = "service", operation_id = "getReadiness", security(()),
    responses(
        (status = 200, description = "The database answers", body = HealthStatus),
        (status = 503, description = "The database does not answer", body = Problem),
    )
)]
#[get("/ready")]
pub async fn get_readiness(state: State) -> Reply {
    state.db.read(|conn| conn.batch_execute("SELECT 1").map_err(ApiError::unavailable)).await?;
    private_json(StatusCode::OK, &HealthStatus { status: "ready".into() })
}
