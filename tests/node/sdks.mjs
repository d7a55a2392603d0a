// Calls the REST shim through one Node SDK and prints what the caller saw, as one JSON line.
// Usage: node sdks.mjs openai|anthropic|ai-sdk   (FLEX_BASE_URL, FLEX_API_KEY, FLEX_MODEL,
// FLEX_START_WITHIN in the environment). The start_within goes in a default header, never the
// body: that is how clients that cannot add a body field (the Vercel AI SDK) use the router.
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import OpenAI from "openai";

const base = process.env.FLEX_BASE_URL;
const apiKey = process.env.FLEX_API_KEY;
const model = process.env.FLEX_MODEL;
const headers = { "x-flexinference-start-within": process.env.FLEX_START_WITHIN };

function routing(get) {
  return {
    tier: get("x-flexinference-tier"),
    source: get("x-flexinference-start-within-source"),
    retries: get("x-flexinference-retries"),
  };
}

async function viaOpenAI() {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, defaultHeaders: headers, maxRetries: 0 });
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: "user", content: "hi" }] })
    .withResponse();
  return {
    ...routing((name) => response.headers.get(name)),
    service_tier: data.service_tier,
    text: data.choices[0].message.content,
  };
}

async function viaAnthropic() {
  const client = new Anthropic({ baseURL: base, apiKey, defaultHeaders: headers, maxRetries: 0 });
  const { data, response } = await client.messages
    .create({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
    .withResponse();
  return {
    ...routing((name) => response.headers.get(name)),
    text: data.content.map((block) => block.text ?? "").join(""),
  };
}

async function viaAiSdk() {
  const provider = createOpenAI({ baseURL: `${base}/v1`, apiKey, headers });
  const result = await generateText({ model: provider(model), prompt: "hi", maxRetries: 0 });
  const answer = result.response.headers ?? {};
  return {
    ...routing((name) => answer[name] ?? null),
    service_tier: result.response.body?.service_tier ?? null,
    text: result.text,
  };
}

const cases = { openai: viaOpenAI, anthropic: viaAnthropic, "ai-sdk": viaAiSdk };
const run = cases[process.argv[2]];
if (!run) {
  console.error(`usage: node sdks.mjs ${Object.keys(cases).join("|")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await run()));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), status: error.status ?? error.statusCode ?? null }));
  process.exit(1);
}
