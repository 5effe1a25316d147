//! Instructions: how to make tea, plant a seed, cross the road. Each task has fixed steps,
//! told as prose ("To make tea, first ... Then ..."), as a numbered list, step by step, with
//! "we", or as what a relative told a character.
//! Recipes agree with the world's facts (lemonade is lemons, water and sugar).

use crate::names;
use crate::rng::Rng;
use crate::text::{cap, join_and, num, Vars};

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

/// One safety note or piece of advice per task, by task name.
const TIPS: &[(&str, &str)] = &[
    ("make a cup of tea", "be careful, because the water is very hot."),
    ("make toast", "do not touch the toaster while it is hot."),
    ("plant a seed", "after a week or two, a small green shoot will appear."),
    ("wash your hands", "always wash your hands before you eat."),
    ("brush your teeth", "brush your teeth every morning and every evening."),
    ("make a cheese sandwich", "a sandwich is a good lunch to take to school."),
    ("make lemonade", "lemonade tastes best when it is cold."),
    ("make pancakes", "ask an adult to help you with the hot pan."),
    ("wash the dishes", "wash the glasses first, while the water is clean."),
    ("make your bed", "it only takes a minute, and the room looks much tidier."),
    ("water a plant", "do not give a plant too much water."),
    ("write a letter", "write clearly, so that the letter is easy to read."),
    ("pack a bag for school", "it is a good idea to pack your bag the evening before."),
    ("feed a cat", "cats eat fish and meat, and they always need fresh water."),
    ("cross the road safely", "never run across the road."),
    ("build a snowman", "wear warm gloves, because snow is very cold."),
    ("boil an egg", "be careful, because the pan and the water are very hot."),
];

const CONNECTORS: &[&str] = &["then", "next,", "after that,", "then"];
const STEP_WORDS: &[&str] = &["one", "two", "three", "four", "five", "six"];

/// Who teaches a character a task.
const TEACHERS: &[&str] = &["mother", "father", "grandmother", "grandfather", "aunt", "uncle"];

pub fn generate(rng: &mut Rng) -> String {
    let t = rng.pick(TASKS);
    let steps: Vec<String> = t.steps.iter().map(|s| s.to_string()).collect();
    let mut out = match rng.index(6) {
        0 => prose(&steps, &format!("to {}, first", t.name)),
        1 => format!("Do you want to {}? It is easy. {}", t.name, prose(&steps, "first,")),
        2 => {
            let mut s = format!("How to {}\n\nYou will need {}.\n", t.name, join_and(t.needs));
            for (i, step) in steps.iter().enumerate() {
                s.push_str(&format!("{}. {}.\n", i + 1, cap(step)));
            }
            s.pop();
            s
        }
        3 => {
            let mut s = format!(
                "Here is how to {}. You will need {}. There are {} steps.",
                t.name,
                join_and(t.needs),
                num(steps.len() as u32)
            );
            for (i, step) in steps.iter().enumerate() {
                s.push_str(&format!(" Step {}: {}.", STEP_WORDS[i.min(5)], step));
            }
            s
        }
        4 => {
            // "we" instead of "you": the imperative is also the "we" form of the verb.
            let ours: Vec<String> = steps.iter().map(|s| to_we(s)).collect();
            let with_we: Vec<String> = ours.iter().map(|s| format!("we {s}")).collect();
            format!("Let us {} together. {}", to_we(t.name), prose(&with_we, "first,"))
        }
        _ => {
            let person = names::person(rng);
            let teacher = rng.pick_str(TEACHERS);
            let mut v = Vars::new();
            v.first(&person).set("teacher", teacher).set("task", t.name);
            let mut s = v.sentence("{A}'s {teacher} showed {him} how to {task}.");
            s.push(' ');
            s.push_str(&v.sentence("{his} {teacher} said, \""));
            s.push_str(&prose(&steps, "first,"));
            s.push('"');
            s.push(' ');
            s.push_str(&v.sentence(rng.pick_str(&[
                "{A} tried it {himself}, and it worked.",
                "{A} listened carefully and did every step.",
                "the next day, {A} did it all alone.",
            ])));
            return s;
        }
    };
    let tip = TIPS.iter().find(|(name, _)| *name == t.name).map(|(_, tip)| *tip);
    if let Some(tip) = tip.filter(|_| rng.chance(1, 2)) {
        out.push_str(if out.ends_with('.') { " " } else { "\n" });
        out.push_str(&cap(tip));
    } else if rng.chance(1, 2) {
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

/// A step for "we": "wash your hands" becomes "wash our hands".
fn to_we(step: &str) -> String {
    step.split(' ')
        .map(|w| match w {
            "your" => "our",
            "you" => "we",
            "yourself" => "ourselves",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "To make tea, first boil some water. Then put ... Finally, add ...".
fn prose(steps: &[String], opening: &str) -> String {
    let n = steps.len();
    let mut sentences = vec![cap(&format!("{opening} {}.", steps[0]))];
    for (i, step) in steps.iter().enumerate().skip(1) {
        let connector =
            if i == n - 1 { "finally," } else { CONNECTORS[(i - 1) % CONNECTORS.len()] };
        sentences.push(cap(&format!("{connector} {step}.")));
    }
    sentences.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_a_tip_and_we_form_works() {
        for t in TASKS {
            assert!(TIPS.iter().any(|(name, _)| *name == t.name), "{}", t.name);
        }
        assert_eq!(to_we("wash your hands if you like"), "wash our hands if we like");
    }
}
