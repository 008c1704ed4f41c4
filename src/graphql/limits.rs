//! Bounds on a request's shape, checked before async-graphql parses, validates or runs it.
//!
//! async-graphql's parser, validators and executor recurse over the document and expand every
//! fragment spread where it stands, without memory of what they already expanded. So a 30 KB
//! literal nested 5,000 deep overflows a worker's stack, and a few fragments that each spread
//! the next one twice cost 2^n before its own complexity limit can refuse them. Everything here
//! is linear in the size of the request and recurses no deeper than [`MAX_NESTING`]:
//!
//! 1. [`scan_query`] and [`scan_json`] read the raw text once, counting bracket nesting outside
//!    strings and comments (and, for queries, tokens), before any parser sees it;
//! 2. [`Budget::admit`] parses a document that passed the scan and [`measure`]s it, each
//!    fragment summarised once: selection nesting, field depth, introspection lists,
//!    selections and fields once every spread is expanded, aliases, cycles. The parsed
//!    document stays in the request, so async-graphql does not parse it again.
//!
//! What async-graphql would refuse anyway (depth, complexity) gets the same verdict here, only
//! sooner: validating 10,000 unknown fields costs more than answering a real query.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError};

use super::{MAX_COMPLEXITY, MAX_DEPTH, MAX_INTROSPECTION_DEPTH};

/// Brackets (`{`, `[`, `(`) may nest this deep in a query, and `{`, `[` in a JSON body: four
/// times what the deepest real query needs, far below what exhausts a worker's stack.
pub const MAX_NESTING: usize = 64;
/// Tokens in all the documents of one HTTP request (a batch counts as one). Validation work
/// grows with them; GraphiQL's introspection query holds about 300.
pub const MAX_TOKENS: usize = 10_000;
/// Selections (fields, fragment spreads, inline fragments) in one HTTP request once every
/// spread is replaced by its fragment, which is what validation and execution walk.
pub const MAX_SELECTIONS: usize = 10_000;
/// Aliased fields in one document, spreads expanded: aliases are how one request asks for the
/// same expensive field (a password check) many times.
pub const MAX_ALIASES: usize = 30;
/// Introspection fields that return lists (types, fields, args, ...) nested inside each other
/// along one path. GraphiQL needs three (`types { fields { args } }`); each more multiplies
/// the answer by the size of the schema.
pub const MAX_INTROSPECTION_LISTS: usize = 3;
/// The longest name or number a document may hold.
pub const MAX_NAME_LEN: usize = 1024;

/// The introspection fields whose answers are lists of objects.
const INTROSPECTION_LISTS: [&str; 8] =
    ["types", "fields", "args", "inputFields", "interfaces", "possibleTypes", "enumValues", "directives"];

/// Why a request was refused. Each message is meant for the person who wrote the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("Query is nested too deep: brackets may nest at most {MAX_NESTING} levels")]
    Brackets,
    #[error("The request's JSON is nested too deep: at most {MAX_NESTING} levels")]
    Json,
    #[error("The request is too long: at most {MAX_TOKENS} tokens")]
    Tokens,
    #[error("Query is nested too deep: selections may nest at most {MAX_NESTING} levels, fragments included")]
    Selections,
    #[error("Query is nested too deep: fields may nest at most {MAX_DEPTH} levels")]
    Depth,
    #[error("Introspection is nested too deep: fields may nest at most {MAX_INTROSPECTION_DEPTH} levels")]
    IntrospectionDepth,
    #[error(
        "Introspection is nested too deep: at most {MAX_INTROSPECTION_LISTS} lists (types, fields, args, ...) inside each other"
    )]
    IntrospectionLists,
    #[error("Query is too complex: at most {MAX_SELECTIONS} selections once fragments are expanded")]
    Expansion,
    #[error("Query is too complex: at most {MAX_COMPLEXITY} fields once fragments are expanded")]
    Complexity,
    #[error("A request may use at most {MAX_ALIASES} aliases")]
    Aliases,
    #[error("A name or number may be at most {MAX_NAME_LEN} characters long")]
    NameLength,
    #[error("Cannot spread fragment \"{0}\" within itself")]
    FragmentCycle(String),
}

impl LimitError {
    /// Whether the whole HTTP request is refused (400), rather than one document answered with
    /// an error as validation would answer it. What is found before a document is understood
    /// (the raw text, the batch's shared budget) and the alias rule (400 since round one)
    /// refuse the request.
    fn refuses_request(&self) -> bool {
        matches!(self, Self::Brackets | Self::Json | Self::Tokens | Self::Expansion | Self::Aliases)
    }
}

/// What [`Budget::admit`] turns away.
#[derive(Debug)]
pub enum Refusal {
    /// The whole HTTP request: answered 400.
    Request(LimitError),
    /// This document only: answered with this error in its place, as a parse or validation
    /// error is, and never run.
    Document(ServerError),
}

impl From<LimitError> for Refusal {
    fn from(e: LimitError) -> Self {
        if e.refuses_request() { Refusal::Request(e) } else { Refusal::Document(ServerError::new(e.to_string(), None)) }
    }
}

pub use scan::{scan_json, scan_query};

/// What one HTTP request may still spend: tokens and expanded selections, over every document
/// of a batch.
#[derive(Debug, Default)]
pub struct Budget {
    tokens: usize,
    selections: usize,
}

impl Budget {
    /// Scans, parses and measures one request's document and keeps the parsed document in the
    /// request, so async-graphql does not parse it again. A document that does not parse is
    /// refused with the parser's own error, as async-graphql would answer it.
    pub fn admit(&mut self, request: &mut Request) -> Result<(), Refusal> {
        self.tokens += scan_query(&request.query)?;
        if self.tokens > MAX_TOKENS {
            return Err(LimitError::Tokens.into());
        }
        let doc =
            async_graphql::parser::parse_query(&request.query).map_err(|e| Refusal::Document(ServerError::from(e)))?;
        let shape = measure(&doc)?;
        self.selections = self.selections.saturating_add(shape.selections);
        if self.selections > MAX_SELECTIONS {
            return Err(LimitError::Expansion.into());
        }
        request.set_parsed_query(doc);
        Ok(())
    }
}

/// What [`measure`] found in a whole document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) selections: usize,
    pub(crate) aliases: usize,
}

/// Measures a parsed document against every limit above, fragments expanded where they are
/// spread, each fragment summarised once per context (inside introspection or not).
pub(crate) fn measure(doc: &ExecutableDocument) -> Result<Shape, LimitError> {
    let mut walker = Walker { doc, fragments: HashMap::new() };
    let (mut selections, mut aliases, mut fields) = (0usize, 0usize, 0usize);
    for (_, op) in doc.operations.iter() {
        let s = walker.selection_set(&op.node.selection_set.node, false, 0)?;
        fields = fields.saturating_add(s.fields);
        if s.lists > MAX_INTROSPECTION_LISTS {
            return Err(LimitError::IntrospectionLists);
        }
        if s.depth > MAX_INTROSPECTION_DEPTH {
            return Err(LimitError::IntrospectionDepth);
        }
        if s.own_depth > MAX_DEPTH {
            return Err(LimitError::Depth);
        }
        selections = selections.saturating_add(s.selections);
        aliases = aliases.saturating_add(s.aliases);
    }
    // Validation walks every fragment definition too, used or not.
    for (name, fragment) in &doc.fragments {
        let inside = fragment.node.type_condition.node.on.node.starts_with("__");
        selections = selections.saturating_add(walker.fragment(name.as_str(), inside, 0)?.selections);
    }
    if selections > MAX_SELECTIONS {
        return Err(LimitError::Expansion);
    }
    // async-graphql's own count, over every operation, refused here before validation runs:
    // validating thousands of unknown fields costs more than answering a real query.
    if fields > MAX_COMPLEXITY {
        return Err(LimitError::Complexity);
    }
    if aliases > MAX_ALIASES {
        return Err(LimitError::Aliases);
    }
    Ok(Shape { selections, aliases })
}

/// One selection set's measures, relative to where it stands.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    /// Selection sets nested inside each other, this one included; a spread counts as one.
    nesting: usize,
    /// Fields nested along the deepest path.
    depth: usize,
    /// The same, over paths that never enter introspection (`__schema`, `__type`).
    own_depth: usize,
    /// Introspection list fields nested along one path.
    lists: usize,
    /// Selections once spreads are expanded (saturating).
    selections: usize,
    /// Fields other than `__typename` once spreads are expanded: async-graphql's complexity
    /// with no field of a cost of its own (saturating).
    fields: usize,
    /// Aliased fields once spreads are expanded (saturating).
    aliases: usize,
}

impl Summary {
    /// Takes in a child selection set found one level down.
    fn absorb(&mut self, child: Summary, fields: usize, own: bool, lists: usize) {
        self.nesting = self.nesting.max(1 + child.nesting);
        self.depth = self.depth.max(fields + child.depth);
        if own {
            self.own_depth = self.own_depth.max(fields + child.own_depth);
        }
        self.lists = self.lists.max(lists + child.lists);
        self.selections = self.selections.saturating_add(child.selections);
        self.fields = self.fields.saturating_add(child.fields);
        self.aliases = self.aliases.saturating_add(child.aliases);
    }
}

enum Memo {
    InProgress,
    Done(Summary),
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    fragments: HashMap<(&'a str, bool), Memo>,
}

impl<'a> Walker<'a> {
    /// `above` is how many selection sets enclose this one; the walk refuses before it goes past
    /// [`MAX_NESTING`], so its own recursion is bounded too.
    fn selection_set(&mut self, set: &'a SelectionSet, inside: bool, above: usize) -> Result<Summary, LimitError> {
        let level = above + 1;
        if level > MAX_NESTING {
            return Err(LimitError::Selections);
        }
        let mut s = Summary { nesting: 1, ..Summary::default() };
        for item in &set.items {
            s.selections = s.selections.saturating_add(1);
            match &item.node {
                Selection::Field(f) => {
                    let field = &f.node;
                    let name = field.name.node.as_str();
                    let enters = !inside && (name == "__schema" || name == "__type");
                    let inner = inside || enters;
                    let child = if field.selection_set.node.items.is_empty() {
                        Summary::default()
                    } else {
                        self.selection_set(&field.selection_set.node, inner, level)?
                    };
                    let list = usize::from(inner && INTROSPECTION_LISTS.contains(&name));
                    s.absorb(child, 1, !inner, list);
                    s.aliases = s.aliases.saturating_add(usize::from(field.alias.is_some()));
                    s.fields = s.fields.saturating_add(usize::from(name != "__typename"));
                }
                Selection::InlineFragment(f) => {
                    let child = self.selection_set(&f.node.selection_set.node, inside, level)?;
                    s.absorb(child, 0, !inside, 0);
                }
                Selection::FragmentSpread(spread) => {
                    let child = self.fragment(spread.node.fragment_name.node.as_str(), inside, level)?;
                    s.absorb(child, 0, !inside, 0);
                }
            }
            if s.selections > MAX_SELECTIONS {
                return Err(LimitError::Expansion);
            }
        }
        Ok(s)
    }

    /// A fragment's summary, computed the first time it is met in this context. An unknown
    /// fragment counts for nothing here; validation reports it.
    fn fragment(&mut self, name: &'a str, inside: bool, above: usize) -> Result<Summary, LimitError> {
        match self.fragments.get(&(name, inside)) {
            Some(Memo::Done(s)) => {
                if above + s.nesting > MAX_NESTING {
                    return Err(LimitError::Selections);
                }
                return Ok(*s);
            }
            Some(Memo::InProgress) => return Err(LimitError::FragmentCycle(name.to_string())),
            None => {}
        }
        let doc = self.doc;
        let Some((key, fragment)) = doc.fragments.get_key_value(name) else { return Ok(Summary::default()) };
        self.fragments.insert((key.as_str(), inside), Memo::InProgress);
        let s = self.selection_set(&fragment.node.selection_set.node, inside, above)?;
        self.fragments.insert((key.as_str(), inside), Memo::Done(s));
        Ok(s)
    }
}

mod scan;
#[cfg(test)]
mod tests;
