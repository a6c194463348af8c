// onnx_run.js — runs an ONNX model in ONNX Runtime (npm onnxruntime-node, found through
// NODE_PATH) on a float32 .npy input and writes the first output as a float32 .npy file.
// usage: node onnx_run.js MODEL.onnx INPUT.npy OUTPUT.npy   (used by tests/cli_onnx.sh)
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
    const b = fs.readFileSync(path);
    if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
    const major = b[6];
    const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
    const start = major === 1 ? 10 : 12;
    const header = b.toString('latin1', start, start + hlen);
    if (!header.includes("'<f4'") || header.includes("'fortran_order': True"))
        throw new Error(`${path}: expected a C-order little-endian float32 array`);
    const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim())
        .map(Number);
    const off = start + hlen;
    const data = new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length));
    return { shape, data };
}

function writeNpy(path, shape, data) {
    const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
    let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
    const total = 10 + dict.length + 1;
    dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head[7] = 0;
    head.writeUInt16LE(dict.length, 8);
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    fs.writeFileSync(path, Buffer.concat([head, Buffer.from(dict, 'latin1'), body]));
}

async function main() {
    const [model, input, output] = process.argv.slice(2);
    if (!output) throw new Error('usage: node onnx_run.js MODEL.onnx INPUT.npy OUTPUT.npy');
    const x = readNpy(input);
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    writeNpy(output, out.dims, out.data);
}

main().catch((e) => {
    console.error(`onnx_run.js: ${e.message}`);
    process.exit(1);
});
