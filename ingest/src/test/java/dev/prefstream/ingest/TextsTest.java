package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import java.text.Normalizer;
import org.junit.jupiter.api.Test;

class TextsTest {
  /**
   * The fast path's premise, checked against the JDK's normalizer: every text of characters below
   * U+0300 is NFC, because every such character and every pair of them is (composition only ever
   * joins a character with the next).
   */
  @Test
  void everyPairOfCharactersBelowTheCombiningMarksIsNfc() {
    int checked = 0;
    for (char a = 0; a < '\u0300'; a++) {
      for (char b = 0; b < '\u0300'; b++) {
        String pair = new String(new char[] {a, b});
        if (!Normalizer.isNormalized(pair, Normalizer.Form.NFC)) {
          throw new AssertionError(String.format("U+%04X U+%04X is not NFC", (int) a, (int) b));
        }
        checked++;
      }
    }
    assertThat(checked).isEqualTo(0x300 * 0x300);
  }

  @Test
  void nfcComposesWhatTheFastPathLetsThrough() {
    assertThat(Texts.belowCombiningMarks("caf\u00e9 na\u00efve")).isTrue();
    assertThat(Texts.nfc("cafe\u0301")).isEqualTo("caf\u00e9"); // e + combining acute
    assertThat(Texts.belowCombiningMarks("cafe\u0301")).isFalse();
    assertThat(Texts.nfc("\u212b")).isEqualTo("\u00c5"); // the angstrom sign's singleton
    String nfc = "already composed: caf\u00e9";
    assertThat(Texts.nfc(nfc)).isSameAs(nfc);
  }
}
