//! The whole HTTP surface on one screen. Each resource's handlers live in its
//! own module (`auth`, `editors`, `stories`, `ratings`, `related`, `service`) and are mounted here;
//! the OpenAPI document is collected from exactly these registrations.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::{auth, editors, feeds, preview, ratings, related, service, stories, webhooks};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope::scope("/v1")
            .configure(auth::handlers::configure)
            .configure(editors::handlers::configure)
            .configure(stories::handlers::configure)
            .configure(ratings::handlers::configure)
            .configure(related::handlers::configure)
            .configure(feeds::handlers::configure)
            .configure(preview::handlers::configure)
            .configure(webhooks::handlers::configure),
    )
    .configure(service::configure);
}
