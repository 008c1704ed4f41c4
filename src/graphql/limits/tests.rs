//! The limits, each at its edge and one past it.

use super::*;

fn measure_text(query: &str) -> Result<Shape, LimitError> {
    scan_query(query)?;
    measure(&async_graphql::parser::parse_query(query).expect("parses"))
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn brackets_are_counted_outside_strings_and_comments_only() {
    let at_limit = format!("{{ f(a: {}) }}", nested("[", "1", "]", MAX_NESTING - 2));
    assert!(scan_query(&at_limit).is_ok());
    let over = format!("{{ f(a: {}) }}", nested("[", "1", "]", MAX_NESTING - 1));
    assert_eq!(scan_query(&over), Err(LimitError::Brackets));
    for kind in ["{a:", "(", "["] {
        assert_eq!(scan_query(&kind.repeat(5000)), Err(LimitError::Brackets), "{kind}");
    }
    let quiet = [
        format!("{{ f(a: \"{}\") }}", "{[(".repeat(500)),
        format!("{{ f(a: \"\"\"{}\\\"\"\" {}\"\"\") }}", "{".repeat(500), "[".repeat(500)),
        format!("{{ f # {}\n }}", "{".repeat(500)),
        format!("{{ f(a: \"\\\"{}\") }}", "(".repeat(500)),
    ];
    for text in quiet {
        assert!(scan_query(&text).is_ok(), "{text:.60}");
    }
}

#[test]
fn broken_strings_never_hide_brackets() {
    // The parser stops at the line break or the bad escape; the scan goes on counting.
    for text in [
        format!("{{ f(a: \"x\n{}", "[".repeat(100)),
        format!("{{ f(a: \"\\q{}\") }}", "[".repeat(100)),
        format!("{{ f(a: \"x\r{}", "{".repeat(100)),
    ] {
        assert_eq!(scan_query(&text), Err(LimitError::Brackets), "{text:.40}");
    }
}

#[test]
fn tokens_are_counted_and_bounded() {
    assert_eq!(scan_query("{ a(b: 12.5e3, c: \"x y\") ...F }"), Ok(12));
    assert_eq!(scan_query(&"a ".repeat(MAX_TOKENS)), Ok(MAX_TOKENS));
    assert_eq!(scan_query(&"a ".repeat(MAX_TOKENS + 1)), Err(LimitError::Tokens));
    // Whitespace, commas and comments are free.
    assert_eq!(scan_query(&format!("{{ a {} }}", ", #c\n".repeat(20_000))), Ok(3));
}

#[test]
fn json_nesting_is_bounded_outside_strings() {
    assert!(scan_json(nested("[", "1", "]", MAX_NESTING).as_bytes()).is_ok());
    assert_eq!(scan_json(nested("[", "1", "]", MAX_NESTING + 1).as_bytes()), Err(LimitError::Json));
    assert_eq!(scan_json(nested("{\"a\":", "1", "}", 5000).as_bytes()), Err(LimitError::Json));
    let quoted = format!("{{\"q\":\"{}\\\"{}\"}}", "[".repeat(200), "{".repeat(200));
    assert!(scan_json(quoted.as_bytes()).is_ok());
}

#[test]
fn own_fields_nest_to_the_depth_limit_only() {
    assert!(measure_text(&format!("{{ {} }}", nested("a { ", "b", " }", MAX_DEPTH - 1))).is_ok());
    let deep = format!("{{ {} }}", nested("a { ", "b", " }", MAX_DEPTH));
    assert_eq!(measure_text(&deep), Err(LimitError::Depth));
    // Through fragments as well.
    let via = "{ a { ...F } } fragment F on T { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } }";
    assert_eq!(measure_text(via), Err(LimitError::Depth));
}

#[test]
fn introspection_gets_its_own_depth_and_list_limits() {
    let type_ref = nested("ofType { ", "name", " }", 9);
    let graphiql_like = format!("{{ __schema {{ types {{ fields {{ args {{ type {{ {type_ref} }} }} }} }} }} }}");
    assert!(measure_text(&graphiql_like).is_ok());
    let deeper = format!("{{ __schema {{ types {{ fields {{ args {{ type {{ ofType {{ {type_ref} }} }} }} }} }} }} }}");
    assert_eq!(measure_text(&deeper), Err(LimitError::IntrospectionDepth));
    let fanned = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    assert_eq!(measure_text(fanned), Err(LimitError::IntrospectionLists));
    let three = "{ __type(name: \"User\") { fields { type { fields { type { fields { name } } } } } } }";
    assert!(measure_text(three).is_ok());
    // A fragment spread inside introspection counts as introspection.
    let via = "{ __schema { types { ...T } } } fragment T on __Type { fields { type { fields { type { fields { name } } } } } }";
    assert_eq!(measure_text(via), Err(LimitError::IntrospectionLists));
}

#[test]
fn fragment_fan_out_is_measured_without_expanding_it() {
    let chain: String =
        (0..40).map(|i| format!("fragment F{i} on Query {{ {} }} ", format!("...F{} ", i + 1).repeat(4))).collect();
    let text = format!("{{ ...F0 }} {chain} fragment F40 on Query {{ __typename }}");
    let started = std::time::Instant::now();
    assert_eq!(measure_text(&text), Err(LimitError::Expansion));
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    let small = "{ ...A ...A } fragment A on Query { ...B ...B } fragment B on Query { __typename }";
    // 2 spreads of A + 2×(A's 2 spreads + 2×B's 1) + the definitions (A: 2+2, B: 1).
    assert_eq!(measure_text(small).map(|s| s.selections), Ok(2 + 2 * (2 + 2) + (2 + 2) + 1));
}

#[test]
fn fields_past_the_complexity_limit_are_refused_before_validation() {
    let at = format!("{{ {} }}", "a ".repeat(MAX_COMPLEXITY));
    assert!(measure_text(&at).is_ok());
    let over = format!("{{ {} }}", "a ".repeat(MAX_COMPLEXITY + 1));
    assert_eq!(measure_text(&over), Err(LimitError::Complexity));
    // __typename costs nothing; fields in fragments count where they are spread.
    assert!(measure_text(&format!("{{ {} }}", "__typename ".repeat(MAX_COMPLEXITY * 2))).is_ok());
    let spread = format!("{{ ...F x {{ ...F }} }} fragment F on Query {{ {} }}", "a ".repeat(MAX_COMPLEXITY / 2));
    assert_eq!(measure_text(&spread), Err(LimitError::Complexity));
}

#[test]
fn spread_chains_and_cycles_are_refused() {
    let chain: String = (0..100).map(|i| format!("fragment F{i} on Query {{ ...F{} }} ", i + 1)).collect();
    let text = format!("{{ ...F0 }} {chain} fragment F100 on Query {{ __typename }}");
    assert_eq!(measure_text(&text), Err(LimitError::Selections));
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { a { ...A } }";
    assert!(matches!(measure_text(cycle), Err(LimitError::FragmentCycle(_))));
    assert!(matches!(measure_text("fragment A on Query { ...A } { a }"), Err(LimitError::FragmentCycle(_))));
}

#[test]
fn aliases_are_counted_where_fragments_are_spread() {
    let ten: String = (0..10).map(|i| format!("a{i}: f ")).collect();
    let text = format!("{{ ...A ...A x {{ ...A ...A }} }} fragment A on Query {{ {ten} }}");
    assert_eq!(measure_text(&text), Err(LimitError::Aliases));
    let thirty: String = (0..30).map(|i| format!("a{i}: f ")).collect();
    assert_eq!(measure_text(&format!("{{ {thirty} }}")).map(|s| s.aliases), Ok(30));
}

#[test]
fn a_batch_shares_one_budget() {
    let mut budget = Budget::default();
    let wide = format!("{{ {} }}", "__typename ".repeat(MAX_TOKENS / 2 + 10));
    assert!(budget.admit(&mut Request::new(wide.clone())).is_ok());
    assert!(matches!(budget.admit(&mut Request::new(wide)), Err(Refusal::Request(LimitError::Tokens))));
    let mut budget = Budget::default();
    // Few tokens, many selections: each document expands to 10 + 10 × 300 + 300.
    let many = format!("{{ {} }} fragment F on Query {{ {} }}", "...F ".repeat(10), "__typename ".repeat(300));
    for _ in 0..3 {
        assert!(budget.admit(&mut Request::new(many.clone())).is_ok());
    }
    assert!(matches!(budget.admit(&mut Request::new(many)), Err(Refusal::Request(LimitError::Expansion))));
}

#[test]
fn an_admitted_document_is_kept_parsed() {
    let mut request = Request::new("{ a { b } }");
    Budget::default().admit(&mut request).expect("admitted");
    let doc = request.parsed_query().expect("parsed");
    assert_eq!(doc.operations.iter().count(), 1);
    // A document that does not parse is answered with the parser's error, parsed once.
    let mut broken = Request::new("{ a(");
    let Err(Refusal::Document(e)) = Budget::default().admit(&mut broken) else { panic!("refused") };
    assert!(e.message.contains("1:5"), "{}", e.message);
    // A document over a limit of its own is refused alone; the batch's budget, whole.
    let deep = format!("{{ {}id{} }}", "a { ".repeat(MAX_DEPTH), " }".repeat(MAX_DEPTH));
    let Err(Refusal::Document(e)) = Budget::default().admit(&mut Request::new(deep)) else { panic!("refused") };
    assert_eq!(e.message, LimitError::Depth.to_string());
}

#[test]
fn names_longer_than_any_schema_holds_are_refused_before_validation() {
    let at = format!("{{ {} }}", "a".repeat(MAX_NAME_LEN));
    assert!(scan_query(&at).is_ok());
    let past = format!("{{ {} }}", "a".repeat(MAX_NAME_LEN + 1));
    assert_eq!(scan_query(&past), Err(LimitError::NameLength));
    // Inside a string the characters are no name.
    assert!(scan_query(&format!("{{ a(x: \"{}\") }}", "a".repeat(4 * MAX_NAME_LEN))).is_ok());
    // One document refused, not the request.
    let Err(Refusal::Document(e)) = Budget::default().admit(&mut Request::new(past)) else { panic!("refused") };
    assert_eq!(e.message, LimitError::NameLength.to_string());
}
