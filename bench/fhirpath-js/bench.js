// The workload of crates/fhirpath/benches/search_params.rs on the reference JavaScript
// FHIRPath engine (`fhirpath` on npm, with its R4 model): every R4 SearchParameter
// expression that applies to a resource, over the examples of hl7.fhir.r4.examples@4.0.1.
//
// Usage: npm install && node bench.js [PACKAGE_DIR]   (default: ../../vendor-r4/package)
// BENCH_SECONDS sets the measuring time (default 5). One core: node runs single-threaded.
'use strict';
const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

const NON_CLINICAL = new Set(['StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem',
  'OperationDefinition', 'ConceptMap', 'CapabilityStatement', 'CompartmentDefinition',
  'ImplementationGuide', 'NamingSystem', 'StructureMap', 'MessageDefinition', 'GraphDefinition',
  'TerminologyCapabilities']);

const dir = process.argv[2] || process.env.FHIR_R4_PACKAGE || path.join(__dirname, '../../vendor-r4/package');
const params = [];
const resources = [];
let unparsed = 0;
for (const name of fs.readdirSync(dir).sort()) {
  if (!name.endsWith('.json') || name.startsWith('package')) continue;
  let v;
  try { v = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')); } catch (e) { continue; }
  const rt = v.resourceType || '';
  if (rt === 'SearchParameter') {
    if (!v.expression) continue;
    try {
      params.push({ base: v.base || [], fn: fhirpath.compile(v.expression, r4) });
    } catch (e) { unparsed++; }
  } else if (rt && !NON_CLINICAL.has(rt)) {
    resources.push(v);
  }
}
const work = resources.map((r) => ({
  r,
  fns: params.filter((p) => p.base.some((b) => b === r.resourceType || b === 'Resource' || b === 'DomainResource')).map((p) => p.fn),
}));
const perPass = work.reduce((n, w) => n + w.fns.length, 0);
let errors = 0;
let values = 0;
for (const w of work) for (const fn of w.fns) {
  try { values += fn(w.r).length; } catch (e) { errors++; }
}
const budget = (Number(process.env.BENCH_SECONDS) || 5) * 1000;
const start = process.hrtime.bigint();
let passes = 0;
let elapsed = 0;
while (elapsed < budget) {
  for (const w of work) for (const fn of w.fns) {
    try { fn(w.r); } catch (e) { /* counted in the warm-up pass */ }
  }
  passes++;
  elapsed = Number(process.hrtime.bigint() - start) / 1e6;
}
const secs = elapsed / 1000;
console.log(`search-parameter extraction (fhirpath.js ${require('fhirpath/package.json').version}, node ${process.version})`);
console.log(`  search parameters: ${params.length} compiled, ${unparsed} not parsed`);
console.log(`  resources: ${work.length}  expressions per pass: ${perPass}  values per pass: ${values}  evaluation errors per pass: ${errors}`);
console.log(`  ${passes} passes in ${secs.toFixed(2)} s: ${(work.length * passes / secs).toFixed(0)} resources/s, ${(perPass * passes / secs).toFixed(0)} expressions/s`);
