// Starts s3rver (a range-honouring S3 server that keeps objects on disk) on a free loopback
// port, creates the buckets named after the directory, and prints {"port": N} once it listens.
// Usage: node serve.js DIRECTORY BUCKET...   (s3rver is found through NODE_PATH)
"use strict";
const S3rver = require("s3rver");

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
// s3rver 3.7 ignores `encoding-type=url` in listings (its own code says "currently
// unimplemented"): real S3 then percent-encodes the keys, and clients that ask for it (DuckDB)
// decode them, so a raw `+` in a run id would come back as a space. Encode them as S3 does,
// just before the router (the last middleware) answers with the listing.
const encode = (text) => encodeURIComponent(text).replace(/%2F/g, "/");
server.middleware.splice(server.middleware.length - 1, 0, async (ctx, next) => {
  await next();
  const listing = ctx.body && ctx.body.ListBucketResult;
  if (ctx.query["encoding-type"] !== "url" || !listing) return;
  listing.Prefix = encode(listing.Prefix);
  listing.Contents = listing.Contents.map((item) => ({ ...item, Key: encode(item.Key) }));
  listing.CommonPrefixes = listing.CommonPrefixes.map(({ Prefix }) => ({ Prefix: encode(Prefix) }));
  listing.EncodingType = "url";
});
server.run().then(
  ({ port }) => console.log(JSON.stringify({ port })),
  (error) => {
    console.error(`s3rver did not start: ${error.message}`);
    process.exit(1);
  },
);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
// The parent holds our stdin: when it is gone (even killed), so is this server.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
