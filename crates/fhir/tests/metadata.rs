//! The R4 metadata answers the questions the validator and the FHIRPath engine ask.

use hutong_fhir::r4::{metadata, Kind, Max};

#[test]
fn all_r4_resource_types_are_known_and_sorted() {
    let md = metadata();
    let types = md.resource_types();
    assert_eq!(
        types.len(),
        146,
        "R4 4.0.1 defines 146 concrete resource types"
    );
    assert!(types.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(md.resource_type("Patient"), Some("Patient"));
    assert_eq!(md.resource_type("Resource"), None);
    assert_eq!(md.resource_type("HumanName"), None);
}

#[test]
fn kinds_bases_and_abstractness() {
    let md = metadata();
    assert_eq!(md.kind("date"), Some(Kind::Primitive));
    assert_eq!(md.kind("HumanName"), Some(Kind::Complex));
    assert_eq!(md.kind("Patient"), Some(Kind::Resource));
    assert_eq!(md.kind("Nope"), None);
    assert_eq!(md.base_type("Patient"), Some("DomainResource"));
    assert_eq!(md.base_type("Age"), Some("Quantity"));
    assert_eq!(md.base_type("Resource"), None);
    for t in ["Resource", "DomainResource", "Element", "BackboneElement"] {
        assert!(md.is_abstract(t), "{t}");
    }
    assert!(!md.is_abstract("Patient"));
    assert!(md.is_subtype_of("Age", "Quantity"));
    assert!(md.is_subtype_of("Patient", "Resource"));
    assert!(md.is_subtype_of("code", "string"));
    assert!(!md.is_subtype_of("Quantity", "Age"));
}

#[test]
fn choice_json_names_resolve_to_the_choice_element() {
    let md = metadata();
    let m = md
        .element("Observation", "valueQuantity")
        .expect("valueQuantity");
    assert_eq!(m.def.path, "Observation.value[x]");
    assert_eq!(m.type_code, "Quantity");
    assert!(m.def.is_choice());
    assert_eq!(m.def.max, Max::One);
    assert!(md.element("Observation", "value[x]").is_none());
    assert!(md.element("Observation", "valueReference").is_none());
    assert_eq!(
        md.element("Extension", "valueDateTime")
            .map(|m| m.type_code),
        Some("dateTime")
    );
}

#[test]
fn backbone_and_type_children_are_navigable() {
    let md = metadata();
    let contact = md.element("Patient", "contact").expect("contact");
    assert_eq!(contact.def.max, Max::Many);
    assert_eq!(contact.type_code, "BackboneElement");
    assert_eq!(contact.children_parent(), "Patient.contact");
    let name = md
        .element(contact.children_parent(), "name")
        .expect("contact.name");
    assert_eq!(name.type_code, "HumanName");
    assert_eq!(name.children_parent(), "HumanName");
    // Through a complex-typed element path, too.
    assert_eq!(
        md.element("Patient.name", "given").map(|m| m.type_code),
        Some("string")
    );
    assert_eq!(md.element("Patient", "id").map(|m| m.type_code), Some("id"));
    let status = md.element("Observation", "status").expect("status");
    assert_eq!((status.def.min, status.def.max), (1, Max::One));
}

#[test]
fn content_reference_resolves_to_the_referenced_backbone() {
    let md = metadata();
    let nested = md.element("Questionnaire.item", "item").expect("item.item");
    assert_eq!(nested.def.content_reference, Some("Questionnaire.item"));
    assert_eq!(nested.children_parent(), "Questionnaire.item");
    assert!(md.element("Questionnaire.item.item", "linkId").is_some());
    assert!(md
        .children("Questionnaire.item.item")
        .is_some_and(|c| c.iter().any(|d| d.name == "linkId")));
}

#[test]
fn primitive_value_keeps_its_system_type() {
    let md = metadata();
    assert_eq!(
        md.element_def("string.value").map(|d| d.types),
        Some(&["System.String"][..])
    );
    assert_eq!(
        md.element_def("Extension.url").map(|d| d.types),
        Some(&["uri"][..])
    );
}

#[test]
fn compartment_paths_put_the_primary_subject_first() {
    let md = metadata();
    assert_eq!(
        md.patient_compartment_paths("Observation").first(),
        Some(&"subject")
    );
    assert_eq!(
        md.patient_compartment_paths("Coverage").first(),
        Some(&"beneficiary")
    );
    assert!(md.patient_compartment_paths("Organization").is_empty());
}
