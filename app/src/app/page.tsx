export default function Home() {
  return <main><h1>Layercake</h1><a href="/play">Playground</a></main>;
}
