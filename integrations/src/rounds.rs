//! A delivery pass in rounds: a round's finished writes can make the next writes due (a
//! ticket's note waits for its creation, an alarm's close for its raise), so a pass goes on
//! while rounds find work, up to a bound.

use std::future::Future;

use domain::DomainResult;

/// Rounds per pass at most.
pub(crate) const ROUNDS: usize = 10;

/// Runs `round` until one finds nothing due, at most [`ROUNDS`] times; returns how many writes
/// were tried in all.
pub(crate) async fn in_rounds<F, Fut>(mut round: F) -> DomainResult<usize>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DomainResult<usize>>,
{
    let mut tried = 0;
    for _ in 0..ROUNDS {
        let sent = round().await?;
        if sent == 0 {
            break;
        }
        tried += sent;
    }
    Ok(tried)
}
