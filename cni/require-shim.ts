// The bundle is CommonJS (it calls require()), but Node decides how to load an
// extensionless file from the nearest package.json: in the repo's dist/ that says
// "type": "module" (tsc's ESM output of cni/ lives there too), in a CNI bin dir
// nothing does. Giving ESM a global `require` lets the same file run both ways.
// Must stay main.ts's first import.
const g = globalThis as { require?: NodeJS.Require };
g.require ??= process.getBuiltinModule('node:module').createRequire(`${process.cwd()}/`);

export {};
