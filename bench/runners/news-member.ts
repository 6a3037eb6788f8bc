// One member process of the News benchmark: runs the News service and serves until killed.
// Run by bench/runners/news.ts as `news-member.ts <listen> <seeds...>`; prints `ready <id>`.
import { createNode, NewsService } from '../../src/index.js';

const [listen, ...seeds] = process.argv.slice(2);
const node = await createNode({ listen: listen!, seeds });
const news = await NewsService.join(node, { group: 'bench-news', backIssues: 10 });
console.log(`ready ${news.group.localId}`);
