// Prints the chat templates, inputs and expected renders of huggingface.js packages/jinja/test/e2e.test.js
// as JSON (the test file is evaluated up to its first describe(), with its imports removed).
const fs=require('fs');
let src=fs.readFileSync(process.argv[2],'utf8');
src=src.replace(/^import .*$/mg,'');
const cut=src.search(/^describe\(/m);
src=src.slice(0,cut);
const m={exports:{}};
new Function('module', src+'\nmodule.exports={TEST_DEFAULT_TEMPLATES, TEST_CUSTOM_TEMPLATES};')(m);
const out={};
for (const group of [m.exports.TEST_DEFAULT_TEMPLATES, m.exports.TEST_CUSTOM_TEMPLATES]) for (const [k,v] of Object.entries(group)) out[k]={chat_template:v.chat_template,data:v.data,target:v.target};
process.stdout.write(JSON.stringify(out,null,1));
