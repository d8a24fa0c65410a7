import { defineConfig } from "vite";

// The build is committed (dist/) and embedded in the cellsd binary, and CI
// rebuilds it from a clean `npm ci` and compares: it must be deterministic,
// so file names carry no content hash that could differ by machine, and the
// bundle is one file per kind.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
        codeSplitting: false,
      },
    },
  },
});
