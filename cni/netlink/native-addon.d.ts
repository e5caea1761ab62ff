// esbuild turns `import x from '*.node' with { type: 'bytes' }` into the file's bytes.
declare module '*.node' {
  const bytes: Uint8Array;
  export default bytes;
}
