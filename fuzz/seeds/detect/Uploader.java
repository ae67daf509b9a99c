class Uploader {
  static final String ID = "AKIATO7ZVO4Y56BEIXG3"; // keygate:allow
  static final String SECRET = "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";
  void up() { System.setProperty("aws.secretKey", "+vdSdsayo8EOqGwVkNZ+rwfVVHpRie6gLkjFmmlw"); }
}
