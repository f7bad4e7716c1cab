export default function Play() {
  return <main><h1>Playground</h1></main>;
}
