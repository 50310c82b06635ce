// Entry point of the `flowmap` command (bin/flowmap.js loads this, or dist/cli/main.js).
import { main } from './program.js';

await main(process.argv);
