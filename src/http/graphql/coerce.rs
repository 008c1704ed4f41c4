//! The part of GraphQL's CoerceVariableValues() that async-graphql leaves to execution.
//!
//! async-graphql validates a variable's value where the variable is used, against that
//! argument's type, but never against the variable's own declared type: `$n: Int!` given no
//! value or `null` runs, and the resolver meets an undefined variable (an error with a path,
//! after other fields ran). The spec makes that a request error: nothing runs. So before a
//! document runs, each variable of the operation that will run is checked against its
//! declared type: present unless it is nullable or has a default, `null` only where the type
//! allows it (list items included), and a value of the built-in scalar it names. Values of
//! enums, input objects and custom scalars are left to async-graphql's validation.

use async_graphql::parser::types::{BaseType, DocumentOperations, OperationDefinition, Type, VariableDefinition};
use async_graphql::{Name, Positioned, Request, ServerError, Value, Variables};

/// Checks the request's variables against the operation that would run; each problem is one
/// error at the variable's definition. A document that does not parse, or names no operation
/// that exists, is left for async-graphql to report.
pub(super) fn check(request: &mut Request) -> Result<(), Vec<ServerError>> {
    let variables = std::mem::take(&mut request.variables);
    let name = request.operation_name.clone();
    let errors = match request.parsed_query() {
        Ok(doc) => operation(&doc.operations, name.as_deref()).map_or_else(Vec::new, |op| problems(op, &variables)),
        Err(_) => Vec::new(),
    };
    request.variables = variables;
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// GraphQL's GetOperation(), where it succeeds.
fn operation<'a>(operations: &'a DocumentOperations, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        _ => None,
    }
}

fn problems(op: &OperationDefinition, variables: &Variables) -> Vec<ServerError> {
    op.variable_definitions.iter().filter_map(|def| problem(def, variables)).collect()
}

fn problem(def: &Positioned<VariableDefinition>, variables: &Variables) -> Option<ServerError> {
    let (name, ty) = (&def.node.name.node, &def.node.var_type.node);
    let message = match variables.get(&Name::new(name.as_str())) {
        None if ty.nullable || def.node.default_value.is_some() => return None,
        None => format!("Variable \"${name}\" of required type \"{ty}\" was not provided."),
        Some(Value::Null) if !ty.nullable => {
            format!("Variable \"${name}\" of non-null type \"{ty}\" must not be null.")
        }
        Some(value) => {
            let wrong = fits(value, ty).err()?;
            format!("Variable \"${name}\" got an invalid value for type \"{ty}\": {wrong}")
        }
    };
    Some(ServerError::new(message, Some(def.pos)))
}

/// Whether `value` coerces to `ty` as far as this module checks; else what is wrong.
fn fits(value: &Value, ty: &Type) -> Result<(), String> {
    match (value, &ty.base) {
        (Value::Null, _) if ty.nullable => Ok(()),
        (Value::Null, _) => Err(format!("null where \"{ty}\" is expected")),
        (Value::List(items), BaseType::List(item)) => items.iter().try_for_each(|v| fits(v, item)),
        // A single value where a list is expected is a list of one.
        (value, BaseType::List(item)) => fits(value, item),
        (value, BaseType::Named(scalar)) => {
            if is_scalar(value, scalar.as_str()) {
                Ok(())
            } else {
                Err(format!("{value} is not a valid {scalar}"))
            }
        }
    }
}

/// Whether `value` is one of the built-in scalar `name`; any other type passes here.
fn is_scalar(value: &Value, name: &str) -> bool {
    let integral = |n: &serde_json::Number| {
        n.as_i64().is_some() || n.as_u64().is_some() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
    };
    match (name, value) {
        ("Int", Value::Number(n)) => {
            n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                || n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX))
        }
        ("Float", Value::Number(_)) | ("String", Value::String(_)) | ("Boolean", Value::Boolean(_)) => true,
        ("ID", Value::String(_)) => true,
        ("ID", Value::Number(n)) => integral(n),
        ("Int" | "Float" | "String" | "Boolean" | "ID", _) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(query: &str, variables: serde_json::Value) -> Vec<String> {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        match check(&mut request) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.message).collect(),
        }
    }

    #[test]
    fn required_variables_are_present_and_not_null() {
        let q = "query($n: Int!, $s: String = \"x\", $o: Int) { a }";
        assert_eq!(errors(q, serde_json::json!({})), ["Variable \"$n\" of required type \"Int!\" was not provided."]);
        assert_eq!(
            errors(q, serde_json::json!({ "n": null })),
            ["Variable \"$n\" of non-null type \"Int!\" must not be null."]
        );
        assert!(errors(q, serde_json::json!({ "n": 1, "o": null })).is_empty());
        // The audit's own case: unused, but still coerced.
        assert_eq!(errors("query CoerceFailure($id: ID!) { __typename }", serde_json::json!({ "id": null })).len(), 1);
    }

    #[test]
    fn built_in_scalars_are_checked() {
        let q = "query($i: Int, $f: Float, $s: String, $b: Boolean, $id: ID) { a }";
        let ok = serde_json::json!({ "i": 3, "f": 1.5, "s": "x", "b": true, "id": 7 });
        assert!(errors(q, ok).is_empty());
        assert!(errors(q, serde_json::json!({ "i": 3.0, "id": "abc", "f": 2 })).is_empty());
        for bad in [
            serde_json::json!({ "i": "3" }),
            serde_json::json!({ "i": 2.5 }),
            serde_json::json!({ "i": 3_000_000_000_u64 }),
            serde_json::json!({ "f": "1.5" }),
            serde_json::json!({ "s": 1 }),
            serde_json::json!({ "b": "true" }),
            serde_json::json!({ "id": 1.5 }),
            serde_json::json!({ "id": true }),
        ] {
            assert_eq!(errors(q, bad.clone()).len(), 1, "{bad}");
        }
    }

    #[test]
    fn lists_and_other_types() {
        let q = "query($l: [Int!]!, $m: [[String]], $e: Role, $j: JSON!) { a }";
        let base = |l: serde_json::Value| serde_json::json!({ "l": l, "j": {} });
        assert!(errors(q, base(serde_json::json!([1, 2]))).is_empty());
        assert!(errors(q, base(serde_json::json!(1))).is_empty(), "one value is a list of one");
        assert_eq!(errors(q, base(serde_json::json!([1, null]))).len(), 1);
        assert_eq!(errors(q, base(serde_json::json!(["x"]))).len(), 1);
        assert!(errors(q, serde_json::json!({ "l": [], "m": [["a", null], null], "e": "ADMIN", "j": [1] })).is_empty());
        assert_eq!(errors(q, serde_json::json!({ "l": [], "m": [[1]] })).len(), 2, "m's item, and j missing");
    }

    #[test]
    fn the_operation_that_runs_is_the_one_checked() {
        let q = "query A($n: Int!) { a } query B { b }";
        assert!(errors(q, serde_json::json!({})).is_empty(), "no operation chosen: async-graphql says so");
        let mut request = Request::new(q).operation_name("B");
        assert!(check(&mut request).is_ok());
        let mut request = Request::new(q).operation_name("A");
        assert!(check(&mut request).is_err());
        assert!(errors("{ unparsable", serde_json::json!({})).is_empty());
    }
}
