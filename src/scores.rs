//! Rating arithmetic shared by the ratings themselves and story lists
//! ranked by them (`sort=-rating`): the exact mean, the Bayesian score, and
//! its prior. A leaf: `ratings` and `stories` both use it, neither the other
//! for this.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::schema::rating_totals;

/// The exact mean, or `None` without votes.
pub fn average(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

/// The Bayesian average: the story's votes plus `weight` imaginary votes of
/// `prior_mean`. Few votes stay near the prior; many speak for themselves.
pub fn bayesian_score(sum: i64, count: i64, weight: f64, prior_mean: f64) -> f64 {
    // `stories::queries::list` computes the same in SQL for `sort=-rating`.
    (sum as f64 + weight * prior_mean) / (count as f64 + weight)
}

/// The prior of the Bayesian score: its weight, and its mean — configured, or
/// the mean over all votes (kept exact by the site-wide totals).
pub struct RatingPrior {
    pub weight: f64,
    configured_mean: Option<f64>,
}

impl RatingPrior {
    pub fn new(weight: f64, configured_mean: Option<f64>) -> Self {
        Self { weight, configured_mean }
    }

    /// The prior mean: 3, the middle of the scale, before the first vote.
    pub fn mean(&self, conn: &mut DbConnection) -> QueryResult<f64> {
        if let Some(mean) = self.configured_mean {
            return Ok(mean);
        }
        let (count, sum): (i64, i64) =
            rating_totals::table.select((rating_totals::vote_count, rating_totals::vote_sum)).first(conn)?;
        Ok(average(sum, count).unwrap_or(3.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_perfect_vote_does_not_outrank_two_hundred_good_ones() {
        // Over a realistic site-wide mean, 200 votes averaging 4.6 beat one 5.
        let (weight, prior) = (10.0, 3.9);
        assert!(bayesian_score(920, 200, weight, prior) > bayesian_score(5, 1, weight, prior));
        assert_eq!(bayesian_score(0, 0, weight, prior), prior);
    }
}
