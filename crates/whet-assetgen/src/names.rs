//! Names for story characters and towns: half from fixed lists of common short names, half
//! built from syllables, so the corpus has many names but every one is easy to spell and its
//! gender (and so its pronouns) is known.
//!
//! No name ends in "s", which keeps possessives simple ("Mara's", never "James's").

use crate::rng::Rng;
use crate::text::{Gender, Person};

const FEMALE: &[&str] = &[
    "Mara", "Lia", "Nina", "Rosa", "Anna", "Ella", "Ivy", "Maya", "Zoe", "Lucy", "Ada", "June",
    "Clara", "Hana", "Nora", "Emma", "Sara", "Lily", "Kate", "Ruth", "Tessa", "Amy", "Mia", "Eva",
    "Lena", "Greta", "Olive", "Alice", "Jane", "Holly", "Grace", "Rita", "Beth", "Molly", "Wendy",
];
const MALE: &[&str] = &[
    "Tom", "Ben", "Sam", "Leo", "Max", "Finn", "Omar", "Hugo", "Jack", "Owen", "Paul", "Theo",
    "Ravi", "Ivan", "Eli", "Noah", "Adam", "Oscar", "Dan", "Joe", "Alan", "Peter", "Carl", "Felix",
    "Ned", "Victor", "Arthur", "Rory", "Ken", "Luke", "Fred", "Mark", "Simon", "Bill", "Harry",
];

const ONSETS: &[&str] = &[
    "Ma", "Lo", "Ta", "Ri", "Be", "No", "Sa", "Ka", "Te", "Da", "Vi", "Pe", "Lu", "Mi", "Ro", "Fe",
    "Ha", "Ji", "Ze", "Ne", "Bo", "Ga", "Wi", "Ya",
];
const FEMALE_ENDINGS: &[&str] =
    &["ra", "na", "la", "lie", "ssa", "ria", "nna", "sha", "ya", "line"];
const MALE_ENDINGS: &[&str] =
    &["ron", "lan", "vin", "rek", "mon", "dric", "bert", "dan", "ko", "rik"];

/// A character with a random gender.
pub fn person(rng: &mut Rng) -> Person {
    let gender = if rng.chance(1, 2) { Gender::Female } else { Gender::Male };
    person_of(rng, gender)
}

/// A character of the given gender.
pub fn person_of(rng: &mut Rng, gender: Gender) -> Person {
    let name = if rng.chance(1, 2) {
        let list = if gender == Gender::Female { FEMALE } else { MALE };
        rng.pick(list).to_string()
    } else {
        let endings = if gender == Gender::Female { FEMALE_ENDINGS } else { MALE_ENDINGS };
        format!("{}{}", rng.pick(ONSETS), rng.pick(endings))
    };
    Person { name, gender }
}

/// A second character whose name differs from the first's.
pub fn other_person(rng: &mut Rng, first: &Person) -> Person {
    loop {
        let p = person(rng);
        if p.name != first.name {
            return p;
        }
    }
}

const TOWN_STARTS: &[&str] = &[
    "Ash", "Bram", "Clay", "Elm", "Fen", "Oak", "Mill", "Stone", "Brook", "Wil", "Mar", "Thorn",
    "Red", "Green", "Ald", "Hay", "Pen", "Cole", "West", "North",
];
const TOWN_ENDS: &[&str] = &[
    "ford", "ton", "field", "by", "wick", "dale", "bridge", "mouth", "stead", "wood", "ham", "well",
];

/// A town or village name: "Ashford", "Millbridge".
pub fn town(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(TOWN_STARTS), rng.pick(TOWN_ENDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_end_in_s() {
        for n in FEMALE.iter().chain(MALE) {
            assert!(!n.ends_with('s'), "{n}");
        }
        for e in FEMALE_ENDINGS.iter().chain(MALE_ENDINGS) {
            assert!(!e.ends_with('s'), "{e}");
        }
    }
}
