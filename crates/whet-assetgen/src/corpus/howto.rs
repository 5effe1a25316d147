//! Instructions: how to make tea, plant a seed, cross the road. Each task has fixed steps,
//! told as prose ("To make tea, first ... Then ..."), as a numbered list, or step by step.
//! Recipes agree with the world's facts (lemonade is lemons, water and sugar).

use crate::rng::Rng;
use crate::text::{cap, join_and, num};

struct Task {
    name: &'static str,
    needs: &'static [&'static str],
    steps: &'static [&'static str],
}

const TASKS: &[Task] = &[
    Task {
        name: "make a cup of tea",
        needs: &["a kettle", "a cup", "a tea bag"],
        steps: &[
            "boil some water in a kettle",
            "put a tea bag in a cup",
            "pour the hot water into the cup",
            "wait for three minutes",
            "take out the tea bag",
            "add a little milk if you like",
        ],
    },
    Task {
        name: "make toast",
        needs: &["bread", "a toaster", "butter"],
        steps: &[
            "put two slices of bread in the toaster",
            "push the lever down",
            "wait until the toast pops up",
            "put the toast on a plate",
            "spread some butter on it",
        ],
    },
    Task {
        name: "plant a seed",
        needs: &["a small pot", "some soil", "a seed"],
        steps: &[
            "fill a small pot with soil",
            "make a hole with your finger",
            "drop the seed into the hole",
            "cover the seed with soil",
            "water it a little every day",
            "put the pot in a sunny place",
        ],
    },
    Task {
        name: "wash your hands",
        needs: &["soap", "water", "a clean towel"],
        steps: &[
            "turn on the tap",
            "wet your hands",
            "rub soap on your hands for twenty seconds",
            "rinse off the soap",
            "dry your hands with a clean towel",
        ],
    },
    Task {
        name: "brush your teeth",
        needs: &["a toothbrush", "toothpaste", "water"],
        steps: &[
            "put a little toothpaste on your toothbrush",
            "brush the front of your teeth",
            "brush the back of your teeth",
            "keep brushing for two minutes",
            "rinse your mouth with water",
        ],
    },
    Task {
        name: "make a cheese sandwich",
        needs: &["bread", "butter", "cheese"],
        steps: &[
            "take two slices of bread",
            "spread butter on each slice",
            "put some cheese on one slice",
            "add a slice of tomato if you like",
            "put the other slice on top",
            "cut the sandwich in half",
        ],
    },
    Task {
        name: "make lemonade",
        needs: &["lemons", "water", "sugar"],
        steps: &[
            "squeeze the juice from three lemons",
            "pour the juice into a jug",
            "add four cups of cold water",
            "stir in two spoons of sugar",
            "taste it and add more sugar if you like",
        ],
    },
    Task {
        name: "make pancakes",
        needs: &["flour", "eggs", "milk"],
        steps: &[
            "put a cup of flour in a bowl",
            "add two eggs and a cup of milk",
            "mix everything until it is smooth",
            "heat a little butter in a pan",
            "pour some of the mixture into the pan",
            "cook each side until it is golden",
        ],
    },
    Task {
        name: "wash the dishes",
        needs: &["warm water", "soap", "a sponge"],
        steps: &[
            "fill the sink with warm water",
            "add a little soap",
            "wash each plate and cup with a sponge",
            "rinse them with clean water",
            "put them on a rack to dry",
        ],
    },
    Task {
        name: "make your bed",
        needs: &["a sheet", "a pillow", "a blanket"],
        steps: &[
            "pull the sheet flat",
            "shake the pillow",
            "put the pillow at the top of the bed",
            "pull the blanket up neatly",
        ],
    },
    Task {
        name: "water a plant",
        needs: &["a watering can", "water"],
        steps: &[
            "check if the soil is dry",
            "fill a watering can with water",
            "pour the water slowly onto the soil",
            "stop when the soil is damp",
        ],
    },
    Task {
        name: "write a letter",
        needs: &["paper", "a pen", "an envelope", "a stamp"],
        steps: &[
            "write the date at the top of the page",
            "begin with the word Dear and the person's name",
            "write what you want to say",
            "end with your name",
            "put the letter in an envelope",
            "write the address on the envelope and add a stamp",
        ],
    },
    Task {
        name: "pack a bag for school",
        needs: &["a school bag"],
        steps: &[
            "put your books in the bag",
            "add your pencil case",
            "pack your lunch and a bottle of water",
            "check that you have your homework",
            "close the bag",
        ],
    },
    Task {
        name: "feed a cat",
        needs: &["two bowls", "fish or meat", "fresh water"],
        steps: &[
            "wash the cat's bowl",
            "put some fish or meat in the bowl",
            "fill another bowl with fresh water",
            "put the bowls on the floor",
            "call the cat",
        ],
    },
    Task {
        name: "cross the road safely",
        needs: &["a little patience"],
        steps: &[
            "stop at the edge of the pavement",
            "look left and right",
            "listen for cars",
            "wait until the road is clear",
            "walk straight across",
        ],
    },
    Task {
        name: "build a snowman",
        needs: &["lots of snow", "two stones", "a carrot"],
        steps: &[
            "roll a big ball of snow for the body",
            "roll a smaller ball for the head",
            "put the head on top of the body",
            "use two stones for the eyes",
            "add a carrot for the nose",
        ],
    },
    Task {
        name: "boil an egg",
        needs: &["an egg", "a small pan", "water"],
        steps: &[
            "put an egg in a small pan",
            "cover the egg with cold water",
            "heat the water until it boils",
            "cook the egg for eight minutes",
            "cool the egg in cold water before you peel it",
        ],
    },
];

const CONNECTORS: &[&str] = &["then", "next,", "after that,", "then"];
const STEP_WORDS: &[&str] = &["one", "two", "three", "four", "five", "six"];

pub fn generate(rng: &mut Rng) -> String {
    let t = rng.pick(TASKS);
    let mut out = match rng.index(4) {
        0 => prose(t, &format!("to {}, first", t.name)),
        1 => {
            let mut s = format!("Do you want to {}? It is easy. ", t.name);
            s.push_str(&prose(t, "first,"));
            s
        }
        2 => {
            let mut s = format!("How to {}\n\nYou will need {}.\n", t.name, join_and(t.needs));
            for (i, step) in t.steps.iter().enumerate() {
                s.push_str(&format!("{}. {}.\n", i + 1, cap(step)));
            }
            s.pop();
            s
        }
        _ => {
            let mut s = format!(
                "Here is how to {}. You will need {}. There are {} steps.",
                t.name,
                join_and(t.needs),
                num(t.steps.len() as u32)
            );
            for (i, step) in t.steps.iter().enumerate() {
                s.push_str(&format!(" Step {}: {}.", STEP_WORDS[i.min(5)], step));
            }
            s
        }
    };
    if rng.chance(1, 2) {
        out.push_str(if out.ends_with('.') { " " } else { "\n" });
        let closing = rng.pick_str(&[
            "now you know how to {}.",
            "that is all there is to it.",
            "it is easy once you have done it a few times.",
        ]);
        out.push_str(&cap(&closing.replace("{}", t.name)));
    }
    out
}

/// "To make tea, first boil some water. Then put ... Finally, add ...".
fn prose(t: &Task, opening: &str) -> String {
    let n = t.steps.len();
    let mut sentences = vec![cap(&format!("{opening} {}.", t.steps[0]))];
    for (i, step) in t.steps.iter().enumerate().skip(1) {
        let connector =
            if i == n - 1 { "finally," } else { CONNECTORS[(i - 1) % CONNECTORS.len()] };
        sentences.push(cap(&format!("{connector} {step}.")));
    }
    sentences.join(" ")
}
