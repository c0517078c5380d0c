//! Company names for seeded data: the same seed gives the same names, every name unique.

/// Distinct, plausible company names, the same for the same seed.
pub fn company_names(count: usize, seed: u64) -> Vec<String> {
    const FIRST: [&str; 16] = [
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Wonka",
        "Tyrell",
        "Cyberdyne",
        "Soylent",
        "Hooli",
        "Vandelay",
        "Pied Piper",
        "Dunder",
        "Oscorp",
        "Massive",
    ];
    const SECOND: [&str; 8] = [
        "Corp",
        "Industries",
        "Labs",
        "Group",
        "Holdings",
        "Systems",
        "Partners",
        "Logistics",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..count)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let first = FIRST[(state >> 33) as usize % FIRST.len()];
            let second = SECOND[(state >> 45) as usize % SECOND.len()];
            if i < FIRST.len() * SECOND.len() {
                format!("{first} {second}")
            } else {
                format!("{first} {second} {i}")
            }
        })
        .fold(Vec::new(), |mut names, name| {
            let unique = if names.contains(&name) {
                format!("{name} {}", names.len())
            } else {
                name
            };
            names.push(unique);
            names
        })
}
