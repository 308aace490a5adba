//! Rating arithmetic shared by the ratings themselves and story lists
//! ranked by them (`sort=-rating`): the exact mean, the Bayesian score, the
//! stored rank, and the prior they are computed under. A leaf: `ratings`
//! and `stories` both use it, neither the other for this.

use diesel::prelude::*;

use crate::schema::rating_prior;

/// The exact mean, or `None` without votes.
pub fn average(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

/// The prior of the Bayesian score as stored ranks are computed under it: a
/// snapshot of the configured mean or of the mean over all votes, re-taken
/// when that drifts (`ratings::Upkeep`), so that a vote re-ranks its own
/// story only.
#[derive(Debug, Clone, Copy, PartialEq, Queryable, Selectable, AsChangeset)]
#[diesel(table_name = rating_prior)]
pub struct Prior {
    pub weight: f64,
    pub mean: f64,
}

impl Prior {
    /// The Bayesian average: the story's votes plus `weight` imaginary votes
    /// of `mean`. Few votes stay near the prior; many speak for themselves.
    pub fn score(&self, sum: i64, count: i64) -> f64 {
        (sum as f64 + self.weight * self.mean) / (count as f64 + self.weight)
    }

    /// What `sort=-rating` orders by (`story_ratings.rating_rank`): the score minus
    /// the mean, the same order under one prior. It is 0 without votes, so a
    /// new story is ranked without being computed; `ratings::queries::rerank`
    /// computes the same in SQL.
    pub fn rank(&self, sum: i64, count: i64) -> f64 {
        (sum as f64 - count as f64 * self.mean) / (count as f64 + self.weight)
    }
}

/// The prior as configured: its weight, and its mean, or `None` for the mean
/// over all votes.
#[derive(Debug, Clone, Copy)]
pub struct RatingPrior {
    pub weight: f64,
    pub configured_mean: Option<f64>,
}

impl RatingPrior {
    pub fn new(weight: f64, configured_mean: Option<f64>) -> Self {
        Self { weight, configured_mean }
    }

    /// The prior the snapshot should hold, given the site-wide totals: the
    /// mean is 3, the middle of the scale, before the first vote.
    pub fn target(&self, vote_count: i64, vote_sum: i64) -> Prior {
        let mean = self.configured_mean.or_else(|| average(vote_sum, vote_count)).unwrap_or(3.0);
        Prior { weight: self.weight, mean }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_perfect_vote_does_not_outrank_two_hundred_good_ones() {
        // Over a realistic site-wide mean, 200 votes averaging 4.6 beat one 5.
        let prior = Prior { weight: 10.0, mean: 3.9 };
        assert!(prior.score(920, 200) > prior.score(5, 1));
        assert!(prior.rank(920, 200) > prior.rank(5, 1));
        assert_eq!(prior.score(0, 0), 3.9);
        assert_eq!(prior.rank(0, 0), 0.0);
    }

    #[test]
    fn the_rank_is_the_score_less_the_mean() {
        let prior = Prior { weight: 10.0, mean: 3.9 };
        for (sum, count) in [(5, 1), (920, 200), (1, 1), (299, 100)] {
            assert!((prior.score(sum, count) - prior.mean - prior.rank(sum, count)).abs() < 1e-12);
        }
    }

    #[test]
    fn the_target_mean_is_configured_or_the_site_wide_one() {
        assert_eq!(RatingPrior::new(10.0, Some(4.5)).target(10, 20).mean, 4.5);
        assert_eq!(RatingPrior::new(10.0, None).target(10, 20).mean, 2.0);
        assert_eq!(RatingPrior::new(10.0, None).target(0, 0), Prior { weight: 10.0, mean: 3.0 });
    }
}
